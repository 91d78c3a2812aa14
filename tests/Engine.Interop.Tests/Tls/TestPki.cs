namespace Engine.Interop.Tests.Tls;

/// <summary>
/// X.509 credentials made with GnuTLS's certtool, in the directory layout qemu, nbdkit and libnbd share: a CA, a
/// server certificate for localhost and 127.0.0.1, client certificates for <c>alice</c> and <c>bob</c> signed by
/// the CA, and <c>mallory</c>, whose certificate another CA signed. Each client directory holds the first CA's
/// certificate, so every client trusts the server; only the server's view of them differs. One set serves the tests of
/// Engine's server and of Engine's client (against nbdkit and qemu-nbd) alike.
/// </summary>
public sealed class TestPki : IDisposable
{
    private readonly TempDir _dir = new();

    public TestPki()
    {
        var ca = MakeCa("ca", "Engine Test CA");
        var otherCa = MakeCa("other-ca", "Someone Else's CA");
        Directory.CreateDirectory(ServerDir);
        File.Copy(Path.Combine(ca, "ca-cert.pem"), Path.Combine(ServerDir, "ca-cert.pem"));
        Sign(ca, Path.Combine(ServerDir, "server"), "organization = Engine Test\ncn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nsigning_key\nencryption_key\n");
        MakeClient(ca, "alice", ca);
        MakeClient(ca, "bob", ca);
        MakeClient(ca, "mallory", otherCa);
        MakePaddedClient(ca);

        // A client with the CA but no certificate of its own.
        Directory.CreateDirectory(ClientDir("anonymous"));
        File.Copy(Path.Combine(ca, "ca-cert.pem"), Path.Combine(ClientDir("anonymous"), "ca-cert.pem"));

        // One directory both a peer server (nbdkit, qemu-nbd) and Engine's client read: the server's and alice's files.
        Directory.CreateDirectory(ServerAndClientDir);
        foreach (var file in Directory.GetFiles(ServerDir, "*.pem").Concat(Directory.GetFiles(ClientDir("alice"), "client-*.pem")))
        {
            File.Copy(file, Path.Combine(ServerAndClientDir, Path.GetFileName(file)));
        }

        // The other CA's certificate alone: a client that trusts only a CA that signed nothing the servers show.
        Directory.CreateDirectory(OtherCaDir);
        File.Copy(Path.Combine(otherCa, "ca-cert.pem"), Path.Combine(OtherCaDir, "ca-cert.pem"));
    }

    /// <summary>ca-cert.pem, server-cert.pem/server-key.pem and alice's client-cert.pem/client-key.pem: a peer server and Engine's client both read it.</summary>
    public string ServerAndClientDir => _dir["server-and-client"];

    /// <summary>ca-cert.pem of the other CA only.</summary>
    public string OtherCaDir => _dir["other-ca-only"];

    /// <summary>ca-cert.pem, server-cert.pem, server-key.pem: for <c>engine serve --tls-certificates</c>.</summary>
    public string ServerDir => _dir["server"];

    /// <summary>ca-cert.pem, client-cert.pem, client-key.pem of a client (alice, bob, mallory), or anonymous's ca-cert.pem alone.</summary>
    public string ClientDir(string name) => _dir[name];

    public void Dispose() => _dir.Dispose();

    private string MakeCa(string name, string cn)
    {
        var dir = _dir[name];
        Directory.CreateDirectory(dir);
        var key = Path.Combine(dir, "ca-key.pem");
        var template = Template(dir, $"cn = {cn}\nca\ncert_signing_key\nexpiration_days = 30\n");
        CertTool("--generate-privkey", "--key-type", "ecdsa", "--no-text", "--outfile", key);
        CertTool("--generate-self-signed", "--load-privkey", key, "--template", template, "--no-text", "--outfile", Path.Combine(dir, "ca-cert.pem"));
        return dir;
    }

    private void MakeClient(string trustedCa, string name, string signingCa)
    {
        var dir = ClientDir(name);
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(trustedCa, "ca-cert.pem"), Path.Combine(dir, "ca-cert.pem"));
        Sign(signingCa, Path.Combine(dir, "client"), $"organization = Engine Test\ncn = {name}\ntls_www_client\nsigning_key\nencryption_key\n");
    }

    /// <summary>Makes PREFIX-key.pem and PREFIX-cert.pem signed by the CA in <paramref name="ca"/>.</summary>
    private static void Sign(string ca, string prefix, string template)
    {
        var key = prefix + "-key.pem";
        CertTool("--generate-privkey", "--key-type", "ecdsa", "--no-text", "--outfile", key);
        CertTool(
            "--generate-certificate", "--load-privkey", key,
            "--load-ca-certificate", Path.Combine(ca, "ca-cert.pem"), "--load-ca-privkey", Path.Combine(ca, "ca-key.pem"),
            "--template", Template(Path.GetDirectoryName(prefix)!, template + "expiration_days = 30\n"), "--no-text", "--outfile", prefix + "-cert.pem");
    }

    /// <summary>
    /// <c>padded</c>: a client whose EC key certtool wrote with a zero-padded private scalar (33 bytes for P-256; about
    /// two keys in five), which .NET's PEM loader refuses as corrupt. Keys are made until one is padded.
    /// </summary>
    private void MakePaddedClient(string ca)
    {
        for (var attempt = 0; attempt < 64; attempt++)
        {
            var dir = ClientDir("padded");
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }

            MakeClient(ca, "padded", ca);
            if (HasPaddedScalar(Path.Combine(dir, "client-key.pem")))
            {
                return;
            }
        }

        throw new InvalidOperationException("certtool made no EC key with a padded scalar in 64 attempts");
    }

    private static bool HasPaddedScalar(string keyPath)
    {
        var text = File.ReadAllText(keyPath);
        if (!System.Security.Cryptography.PemEncoding.TryFind(text, out var fields) || text[fields.Label] != "EC PRIVATE KEY")
        {
            return false;
        }

        var sequence = new System.Formats.Asn1.AsnReader(Convert.FromBase64String(text[fields.Base64Data]), System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
        _ = sequence.ReadInteger();
        var scalar = sequence.ReadOctetString();
        return scalar.Length == 33 && scalar[0] == 0;
    }

    private static string Template(string dir, string text)
    {
        var path = Path.Combine(dir, $"template-{Guid.NewGuid():N}.info");
        File.WriteAllText(path, text);
        return path;
    }

    private static void CertTool(params string[] args) =>
        Tool.RunAsync("certtool", args).GetAwaiter().GetResult().AssertSuccess();
}
