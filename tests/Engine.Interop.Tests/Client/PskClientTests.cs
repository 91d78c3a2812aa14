using System.Text.Json;
using Engine.Backup.Repository;
using Engine.Interop.Tests.Tls;
using static Engine.Interop.Tests.Backup.BackupTestKit;
using static Engine.Interop.Tests.Client.ClientInterop;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Client;

/// <summary>
/// Engine's client over TLS-PSK (<c>nbds+unix://USER@/?…&amp;tls-psk-file=FILE</c>) against
/// <c>nbdkit --tls=require --tls-psk</c> and qemu-nbd with tls-creds-psk, keys made by psktool per test: info (which
/// says "with TLS", psk), copy and backup byte-exact, and the refusals with their reasons.
/// </summary>
public sealed class PskClientTests
{
    private const long Size = 24 * MiB;

    [Fact]
    public async Task Nbdkit_InfoCopyAndBackup_ByteExact_InfoSaysPsk()
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        var image = CreateRandom(dir["disk.raw"], Size, 1301);
        await using var server = await NbdkitPskAsync(dir, psk.Keys, "file", image);
        var uri = PskUri(server, "alice", psk.Keys);

        var info = (await EngineAsync("info", uri)).AssertSuccess();
        Assert.Contains($"export-size: {Size}", info.Stdout, StringComparison.Ordinal);
        Assert.Contains("protocol: newstyle-fixed with TLS (psk, TLSv1.3)", info.Stdout, StringComparison.Ordinal);
        using (var json = JsonDocument.Parse((await EngineAsync("info", "--json", uri)).AssertSuccess().Stdout))
        {
            Assert.True(json.RootElement.GetProperty("tls").GetBoolean());
            Assert.Equal("psk", json.RootElement.GetProperty("tls_authentication").GetString());
            Assert.Equal("TLSv1.3", json.RootElement.GetProperty("tls_protocol").GetString());
        }

        (await EngineAsync("copy", uri, dir["copy.raw"])).AssertSuccess();
        Assert.Equal(Sha256(image), Sha256(dir["copy.raw"]));

        (await EngineAsync("backup", "--repo", dir["repo"], "--vmid", "100", "--disk", $"drive-scsi0={uri}", "--json")).AssertSuccess();
        using var repository = BackupRepository.Open(dir["repo"]);
        var snapshot = Assert.Single(repository.ListSnapshots());
        await AssertRestoresAsync(repository, snapshot.Id, image, dir["restored.raw"]);
    }

    [Fact]
    public async Task Nbdkit_NoUserInTheUri_AuthenticatesAsTheLocalUser()
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        var image = CreateRandom(dir["disk.raw"], 1 * MiB, 1302);
        await using var server = await NbdkitPskAsync(dir, psk.Keys, "file", image);

        // libnbd's rule (nbd_set_tls_username): without a user name, the local one. The key file has a line for it.
        var info = (await EngineAsync("info", $"nbds+unix:///?socket={server.SocketPath}&tls-psk-file={psk.Keys}")).AssertSuccess();
        Assert.Contains("with TLS (psk", info.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task QemuNbd_Copy_ByteExact(bool tcp)
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        var image = CreateRandom(dir["disk.raw"], Size, 1303);
        List<string> args = ["--object", $"tls-creds-psk,id=tls0,dir={psk.Directory},endpoint=server", "--tls-creds", "tls0", "-r", "-t", "-f", "raw", "-x", "disk"];
        string uri;
        if (tcp)
        {
            var port = ServerProcess.FreePort();
            var portText = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await using var server = await ServerProcess.StartTcpAsync("qemu-nbd", port, [.. args, "-b", "127.0.0.1", "-p", portText, image]);
            uri = $"nbds://bob@127.0.0.1:{portText}/disk?tls-psk-file={psk.Keys}";
            (await EngineAsync("copy", uri, dir["copy.raw"])).AssertSuccess();
        }
        else
        {
            await using var server = await ServerProcess.StartUnixAsync("qemu-nbd", dir["q.sock"], [.. args, "-k", dir["q.sock"], image]);
            uri = $"nbds+unix://bob@/disk?socket={dir["q.sock"]}&tls-psk-file={psk.Keys}";
            (await EngineAsync("copy", uri, dir["copy.raw"])).AssertSuccess();
        }

        Assert.Equal(Sha256(image), Sha256(dir["copy.raw"]));
    }

    [Fact]
    public async Task WrongKeyOrUnknownUser_IsRefused_WithTheReason()
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        await using var server = await NbdkitPskAsync(dir, psk.Keys, "memory", "1M");

        (await EngineAsync("info", PskUri(server, "alice", psk.WrongKeys)))
            .AssertFailure(1, "PSK handshake as 'alice' failed").AssertNoRuntimeText();

        // carol is in our file, not the server's.
        var carol = dir["carol.psk"];
        (await Tool.RunAsync("psktool", "-u", "carol", "-p", carol)).AssertSuccess();
        (await EngineAsync("info", PskUri(server, "carol", carol)))
            .AssertFailure(1, "PSK handshake as 'carol' failed").AssertNoRuntimeText();

        // mallory is in neither: refused before connecting, naming our file.
        (await EngineAsync("info", PskUri(server, "mallory", psk.Keys)))
            .AssertFailure(1, $"PSK identity 'mallory' is not in {psk.Keys}").AssertNoRuntimeText();

        (await EngineAsync("info", PskUri(server, "alice", psk.Keys))).AssertSuccess();
    }

    [Fact]
    public async Task MissingOrMalformedKeyFile_IsNamed()
    {
        using var dir = new TempDir();
        var missing = dir["none.psk"];
        (await EngineAsync("info", $"nbds+unix://alice@/?socket={dir.Socket}&tls-psk-file={missing}"))
            .AssertFailure(1, $"cannot read PSK key file {missing}: no such file").AssertNoRuntimeText();

        var bad = dir["bad.psk"];
        await File.WriteAllTextAsync(bad, "alice:xyz1\n");
        (await EngineAsync("info", $"nbds+unix://alice@/?socket={dir.Socket}&tls-psk-file={bad}"))
            .AssertFailure(1, $"{bad}:1: the key of 'alice' is not hex").AssertNoRuntimeText();
    }

    private static string PskUri(ServerProcess server, string user, string keys) =>
        $"nbds+unix://{user}@/?socket={server.SocketPath}&tls-psk-file={keys}";

    private static Task<ServerProcess> NbdkitPskAsync(TempDir dir, string keys, params string[] args) =>
        ServerProcess.StartUnixAsync("nbdkit", dir["k.sock"], ["-U", dir["k.sock"], "-f", "--tls=require", "--tls-psk", keys, .. args]);
}
