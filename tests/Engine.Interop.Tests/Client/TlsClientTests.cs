using Engine.Backup.Repository;
using Engine.Interop.Tests.Tls;
using Engine.Nbd.Client;
using static Engine.Interop.Tests.Backup.BackupTestKit;
using static Engine.Interop.Tests.Client.ClientInterop;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Client;

/// <summary>
/// Engine's client over TLS (nbds://, nbds+unix://) against nbdkit --tls=require and qemu-nbd with tls-creds-x509,
/// with the certificates of <see cref="TestPki"/> (certtool, made once for the class): info, copy and backup byte-exact, and every refusal with its reason.
/// </summary>
public sealed class TlsClientTests(TestPki pki) : IClassFixture<TestPki>
{
    private const long Size = 24 * MiB;

    [Fact]
    public async Task Nbdkit_Unix_InfoCopyAndBackup_ByteExact()
    {
        using var dir = new TempDir();
        var image = CreateRandom(dir["disk.raw"], Size, 1201);
        await using var server = await NbdkitTlsAsync(dir, pki.ServerAndClientDir, "file", image);
        var uri = $"nbds+unix:///?socket={server.SocketPath}&tls-certificates={pki.ServerAndClientDir}";

        var info = (await EngineAsync("info", uri)).AssertSuccess();
        Assert.Contains(Size.ToString(System.Globalization.CultureInfo.InvariantCulture), info.Stdout, StringComparison.Ordinal);
        Assert.Contains("protocol: newstyle-fixed with TLS (x509, TLSv1.3)", info.Stdout, StringComparison.Ordinal);

        (await EngineAsync("copy", uri, dir["copy.raw"])).AssertSuccess();
        Assert.Equal(Sha256(image), Sha256(dir["copy.raw"]));

        // A VM backup from an nbds source through the CLI, then a restore compared with the source.
        var backup = (await EngineAsync("backup", "--repo", dir["repo"], "--vmid", "100", "--disk", $"drive-scsi0={uri}", "--json")).AssertSuccess();
        Assert.Contains("\"snapshot\"", backup.Stdout, StringComparison.Ordinal);
        using (var repository = BackupRepository.Open(dir["repo"]))
        {
            var snapshot = Assert.Single(repository.ListSnapshots());
            await AssertRestoresAsync(repository, snapshot.Id, image, dir["restored.raw"]);
        }
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    public async Task Nbdkit_Tcp_Copy_ByteExact_HostNameChecked(string host)
    {
        using var dir = new TempDir();
        var image = CreateRandom(dir["disk.raw"], Size, 1202);
        var port = ServerProcess.FreePort();
        await using var server = await ServerProcess.StartTcpAsync("nbdkit", port, ["-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-f", "--tls=require", "--tls-certificates", pki.ServerAndClientDir, "file", image]);
        var uri = $"nbds://{host}:{port}/?tls-certificates={pki.ServerAndClientDir}";
        (await EngineAsync("copy", uri, dir["copy.raw"])).AssertSuccess();
        Assert.Equal(Sha256(image), Sha256(dir["copy.raw"]));

        // The certificate names localhost and 127.0.0.1, not this: refused unless tls-hostname says otherwise.
        var wrong = await Assert.ThrowsAnyAsync<NbdException>(() => NbdClient.ConnectAsync($"{uri}&tls-hostname=elsewhere.example"));
        Assert.Contains("is not valid for the host name 'elsewhere.example'", wrong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nbdkit_MemoryWriteRead_OverTls_RoundTrips()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitTlsAsync(dir, pki.ServerAndClientDir, "memory", "64M");
        await using var client = await NbdClient.ConnectAsync($"nbds+unix:///?socket={server.SocketPath}&tls-certificates={pki.ServerAndClientDir}");
        var payload = RandomBytes(40 * MiB, 1203); // over the 32 MiB maximum: split into several requests
        await client.WriteAsync(4097, payload);
        await client.FlushAsync();
        AssertBytes(payload, await ReadAsync(client, 4097, payload.Length), "written over TLS, read back over TLS");
        var extents = await ClientMapAsync(client);
        Assert.NotEmpty(extents);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task QemuNbd_Copy_ByteExact(bool tcp)
    {
        using var dir = new TempDir();
        var image = CreateRandom(dir["disk.raw"], Size, 1204);
        var args = new List<string> { "--object", $"tls-creds-x509,id=tls0,dir={pki.ServerAndClientDir},endpoint=server", "--tls-creds", "tls0", "-r", "-t", "-f", "raw", "-x", "disk" };
        string uri;
        await using var server = tcp
            ? await StartQemuNbdTcpAsync(args, image)
            : await ServerProcess.StartUnixAsync("qemu-nbd", dir["q.sock"], [.. args, "-k", dir["q.sock"], image]);
        uri = tcp ? $"nbds://localhost:{server.Port}/disk?tls-certificates={pki.ServerAndClientDir}" : $"nbds+unix:///disk?socket={dir["q.sock"]}&tls-certificates={pki.ServerAndClientDir}";
        (await EngineAsync("copy", uri, dir["copy.raw"])).AssertSuccess();
        Assert.Equal(Sha256(image), Sha256(dir["copy.raw"]));
    }

    [Fact]
    public async Task ServerFromAnotherCa_IsRefused_NamingTheCa_UnlessVerifyPeerIsOff()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitTlsAsync(dir, pki.ServerAndClientDir, "memory", "1M");
        var uri = $"nbds+unix:///?socket={server.SocketPath}&tls-certificates={pki.OtherCaDir}";

        (await EngineAsync("info", uri)).AssertFailure(1, $"is not signed by the CA in {Path.Combine(pki.OtherCaDir, "ca-cert.pem")}").AssertNoRuntimeText();

        (await EngineAsync("info", uri + "&tls-verify-peer=0")).AssertSuccess();
    }

    [Fact]
    public async Task NbdkitVerifyPeer_RefusesClientWithoutCertificate_AdmitsClientWithOne()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitTlsAsync(dir, pki.ServerAndClientDir, "--tls-verify-peer", "memory", "1M");

        (await EngineAsync("info", $"nbds+unix:///?socket={server.SocketPath}&tls-certificates={pki.ClientDir("anonymous")}")).AssertFailure(1, "client-cert.pem").AssertNoRuntimeText();

        (await EngineAsync("info", $"nbds+unix:///?socket={server.SocketPath}&tls-certificates={pki.ServerAndClientDir}")).AssertSuccess();
    }

    [Fact]
    public async Task Nbds_ToPlaintextServer_FailsSayingTlsIsNotOffered()
    {
        using var dir = new TempDir();
        await using var server = await ServerProcess.StartUnixAsync("nbdkit", dir["k.sock"], ["-U", dir["k.sock"], "-f", "--tls=off", "memory", "1M"]);
        (await EngineAsync("info", $"nbds+unix:///?socket={server.SocketPath}&tls-certificates={pki.ServerAndClientDir}")).AssertFailure(1, "the server does not offer TLS").AssertNoRuntimeText();
    }

    [Fact]
    public async Task PlainNbd_ToTlsRequireServer_FailsSayingTheServerRequiresTls()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitTlsAsync(dir, pki.ServerAndClientDir, "memory", "1M");
        (await EngineAsync("info", server.Uri())).AssertFailure(1, "the server requires TLS").AssertNoRuntimeText();
    }

    [Fact]
    public async Task MissingCaFile_IsNamed()
    {
        using var dir = new TempDir();
        await using var server = await NbdkitTlsAsync(dir, pki.ServerAndClientDir, "memory", "1M");
        var empty = Directory.CreateDirectory(dir["empty"]).FullName;
        (await EngineAsync("info", $"nbds+unix:///?socket={server.SocketPath}&tls-certificates={empty}")).AssertFailure(1, $"{Path.Combine(empty, "ca-cert.pem")} does not exist").AssertNoRuntimeText();
    }

    [Theory]
    [InlineData("nbds://localhost/?tls-verify-peer=maybe", "tls-verify-peer must be 0 or 1, not 'maybe'")]
    [InlineData("nbds+unix:///?socket=/s&tls-priority=NORMAL", "unsupported TLS query key 'tls-priority'")]
    public async Task BadTlsQueryKey_IsAUsageError(string uri, string message) =>
        (await EngineAsync("info", uri)).AssertFailure(64, message).AssertNoRuntimeText();

    private static Task<ServerProcess> NbdkitTlsAsync(TempDir dir, string certificates, params string[] args) =>
        ServerProcess.StartUnixAsync("nbdkit", dir["k.sock"], ["-U", dir["k.sock"], "-f", "--tls=require", "--tls-certificates", certificates, .. args]);

    private static Task<ServerProcess> StartQemuNbdTcpAsync(List<string> args, string image)
    {
        var port = ServerProcess.FreePort();
        return ServerProcess.StartTcpAsync("qemu-nbd", port, [.. args, "-b", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), image]);
    }
}
