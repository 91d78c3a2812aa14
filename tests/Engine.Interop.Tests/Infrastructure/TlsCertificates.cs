namespace Engine.Interop.Tests.Infrastructure;

/// <summary>
/// X.509 material made with certtool (gnutls-bin) in the layout nbdkit, qemu and libnbd share. <see cref="Full"/>
/// holds the CA, a server certificate for localhost and 127.0.0.1, and a client certificate, all from one CA;
/// <see cref="CaOnly"/> the same CA without a client certificate; <see cref="OtherCa"/> a second, unrelated CA.
/// </summary>
internal sealed class TlsCertificates
{
    private TlsCertificates(string full, string caOnly, string otherCa)
    {
        Full = full;
        CaOnly = caOnly;
        OtherCa = otherCa;
    }

    /// <summary>ca-cert.pem, server-cert.pem/server-key.pem and client-cert.pem/client-key.pem: serve and connect from here.</summary>
    public string Full { get; }

    /// <summary>ca-cert.pem alone: a client without a certificate of its own.</summary>
    public string CaOnly { get; }

    /// <summary>ca-cert.pem of a CA that signed nothing the servers show.</summary>
    public string OtherCa { get; }

    public static async Task<TlsCertificates> CreateAsync(TempDir dir)
    {
        var full = Directory.CreateDirectory(dir["pki"]).FullName;
        var caOnly = Directory.CreateDirectory(dir["pki-ca-only"]).FullName;
        var otherCa = Directory.CreateDirectory(dir["pki-other-ca"]).FullName;
        var work = Directory.CreateDirectory(dir["pki-work"]).FullName;

        await CaAsync(work, "ca", "Engine Test CA", Path.Combine(full, "ca-cert.pem"));
        await CaAsync(work, "other", "Unrelated CA", Path.Combine(otherCa, "ca-cert.pem"));
        await SignedAsync(work, full, "server", "cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\n");
        await SignedAsync(work, full, "client", "cn = engine-client\ntls_www_client\n");
        File.Copy(Path.Combine(full, "ca-cert.pem"), Path.Combine(caOnly, "ca-cert.pem"));
        return new TlsCertificates(full, caOnly, otherCa);
    }

    private static async Task CaAsync(string work, string name, string commonName, string certificate)
    {
        var key = Path.Combine(work, $"{name}-key.pem");
        var template = Path.Combine(work, $"{name}.info");
        await File.WriteAllTextAsync(template, $"cn = {commonName}\nca\ncert_signing_key\nexpiration_days = 30\n");
        (await Tool.RunAsync("certtool", "--generate-privkey", "--outfile", key)).AssertSuccess();
        (await Tool.RunAsync("certtool", "--generate-self-signed", "--load-privkey", key, "--template", template, "--outfile", certificate)).AssertSuccess();
        File.Copy(certificate, Path.Combine(work, $"{name}-cert.pem"));
    }

    private static async Task SignedAsync(string work, string directory, string role, string fields)
    {
        var key = Path.Combine(directory, $"{role}-key.pem");
        var template = Path.Combine(work, $"{role}.info");
        await File.WriteAllTextAsync(template, $"organization = Engine\n{fields}encryption_key\nsigning_key\nexpiration_days = 30\n");
        (await Tool.RunAsync("certtool", "--generate-privkey", "--outfile", key)).AssertSuccess();
        (await Tool.RunAsync("certtool", "--generate-certificate", "--load-ca-certificate", Path.Combine(work, "ca-cert.pem"),
            "--load-ca-privkey", Path.Combine(work, "ca-key.pem"), "--load-privkey", key, "--template", template,
            "--outfile", Path.Combine(directory, $"{role}-cert.pem"))).AssertSuccess();
    }
}
