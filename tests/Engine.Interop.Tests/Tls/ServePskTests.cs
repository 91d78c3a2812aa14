using static Engine.Interop.Tests.Infrastructure.DiskFiles;
using static Engine.Interop.Tests.Tls.ServeTlsTests;

namespace Engine.Interop.Tests.Tls;

/// <summary>
/// <c>engine serve --tls require --tls-psk FILE</c> as a separate process under the real PSK clients (nbdinfo,
/// nbdcopy, nbdsh, qemu-img and qemu-io with tls-creds-psk), with keys psktool made for the test; and the refusals:
/// a wrong key, an unknown user, a user not on <c>--allow</c>, and the flag and file errors.
/// </summary>
public sealed class ServePskTests
{
    [Fact]
    public async Task Nbdinfo_Psk_SeesTheExportWithTls()
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        var image = CreateRandom(dir["disk.raw"], 4 * MiB, seed: 41);
        await using var engine = await StartServeAsync(dir, image, "--tls", "require", "--tls-psk", psk.Keys);
        Assert.Contains("nbds+unix://", engine.Stdout, StringComparison.Ordinal);

        var info = (await Tool.RunAsync("nbdinfo", PskUri(dir, "alice", psk.Keys))).AssertSuccess();
        Assert.Contains("with TLS", info.Stdout, StringComparison.Ordinal);
        Assert.Contains($"export-size: {4 * MiB}", info.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nbdcopy_Psk_CopiesByteExact()
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        var image = CreateRandom(dir["disk.raw"], 48 * MiB, seed: 42);
        await using var engine = await StartServeAsync(dir, image, "--tls", "require", "--tls-psk", psk.Keys);

        (await Tool.RunAsync("nbdcopy", PskUri(dir, "bob", psk.Keys), dir["copy.raw"])).AssertSuccess();
        (await Tool.RunAsync("cmp", image, dir["copy.raw"])).AssertSuccess();
    }

    [Fact]
    public async Task QemuImgAndQemuIo_Psk_CompareIdenticalAndWrite()
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        var image = CreateRandom(dir["disk.raw"], 8 * MiB, seed: 43);
        File.Copy(image, dir["reference.raw"]);
        await using var engine = await StartServeAsync(dir, image, "--tls", "require", "--tls-psk", psk.Keys);
        string[] creds = ["--object", $"tls-creds-psk,id=tls0,dir={psk.Directory},username=alice,endpoint=client", "--image-opts"];
        var nbd = $"driver=nbd,path={dir.Socket},tls-creds=tls0";

        (await Tool.RunAsync("qemu-img", ["compare", .. creds, nbd, $"driver=file,filename={dir["reference.raw"]}"], Tool.DefaultTimeout)).AssertSuccess();
        (await Tool.RunAsync("qemu-io", [.. creds, nbd, "-c", "write -P 0xcd 2M 64k", "-c", "read -P 0xcd 2M 64k"], Tool.DefaultTimeout)).AssertSuccess();
        var written = await File.ReadAllBytesAsync(image);
        Assert.All(written.AsSpan(2 * MiB, 64 * KiB).ToArray(), b => Assert.Equal(0xcd, b));
    }

    [Fact]
    public async Task Nbdsh_Psk_ReadsTheExportsBytes()
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        var image = CreateRandom(dir["disk.raw"], 2 * MiB, seed: 44);
        await using var engine = await StartServeAsync(dir, image, "--tls", "require", "--tls-psk", psk.Keys);
        await AssertNbdshReadsAsync(PskUri(dir, "alice", psk.Keys), image, MiB + 5);
    }

    [Fact]
    public async Task WrongKeyAndUnknownUser_AreRefused_ServerStaysHealthy()
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        var image = CreateRandom(dir["disk.raw"], 1 * MiB, seed: 45);
        var strangers = dir["strangers.psk"];
        (await Tool.RunAsync("psktool", "-u", "mallory", "-p", strangers)).AssertSuccess();
        await using var engine = await StartServeAsync(dir, image, "--tls", "require", "--tls-psk", psk.Keys, "-v");

        var wrongKey = await Tool.RunAsync("nbdinfo", "--size", PskUri(dir, "alice", psk.WrongKeys));
        Assert.True(wrongKey.ExitCode != 0, $"alice with the wrong key was admitted\n{wrongKey}");
        Assert.DoesNotContain($"{MiB}", wrongKey.Stdout, StringComparison.Ordinal);
        await engine.WaitUntilAsync(() => engine.Stderr.Contains("PSK handshake with 'alice' failed: wrong key?", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the refusal of the wrong key in the log");

        var unknown = await Tool.RunAsync("nbdinfo", "--size", PskUri(dir, "mallory", strangers));
        Assert.True(unknown.ExitCode != 0, $"mallory, not in the key file, was admitted\n{unknown}");
        await engine.WaitUntilAsync(() => engine.Stderr.Contains($"PSK identity 'mallory' is not in {psk.Keys}", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the refusal of the unknown user in the log");

        Assert.Equal($"{MiB}", (await Tool.RunAsync("nbdinfo", "--size", PskUri(dir, "alice", psk.Keys))).AssertSuccess().Stdout.Trim());
    }

    [Fact]
    public async Task AllowBob_RefusesAlice_AdmitsBob()
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        var open = CreateRandom(dir["open.raw"], 1 * MiB, seed: 46);
        var secret = CreateRandom(dir["secret.raw"], 2 * MiB, seed: 47);
        await using var engine = await StartServeAsync(
            dir, open, "--tls", "require", "--tls-psk", psk.Keys, "--export", $"secret={secret}", "--allow", "bob");

        Assert.Equal($"{2 * MiB}", (await Tool.RunAsync("nbdinfo", "--size", PskUri(dir, "bob", psk.Keys, "secret"))).AssertSuccess().Stdout.Trim());
        var refused = await Tool.RunAsync("nbdinfo", "--size", PskUri(dir, "alice", psk.Keys, "secret"));
        Assert.True(refused.ExitCode != 0, $"alice was admitted to an export for bob only\n{refused}");
        // Refused exactly as a name that does not exist (ServeTlsTests explains why).
        var missing = await Tool.RunAsync("nbdinfo", "--size", PskUri(dir, "alice", psk.Keys, "nosuch"));
        Assert.True(missing.ExitCode == refused.ExitCode, $"{refused}\n{missing}");
        Assert.Equal(missing.Stderr.Replace("nosuch", "NAME", StringComparison.Ordinal), refused.Stderr.Replace("secret", "NAME", StringComparison.Ordinal));

        var list = (await Tool.RunAsync("nbdinfo", "--list", "--json", PskUri(dir, "alice", psk.Keys))).AssertSuccess();
        Assert.DoesNotContain("\"secret\"", list.Stdout, StringComparison.Ordinal);
        Assert.Equal($"{MiB}", (await Tool.RunAsync("nbdinfo", "--size", PskUri(dir, "alice", psk.Keys))).AssertSuccess().Stdout.Trim());
    }

    [Fact]
    public async Task FlagAndKeyFileErrors_NameTheFlagOrFileAndLine()
    {
        using var dir = new TempDir();
        var psk = await TestPsk.CreateAsync(dir);
        var certificates = Directory.CreateDirectory(dir["pki"]).FullName;
        (await EngineCli.RunAsync("serve", "memory:1M", "--socket", dir.Socket, "--tls", "require", "--tls-psk", psk.Keys, "--tls-certificates", certificates))
            .AssertFailure(64, "--tls-certificates and --tls-psk exclude each other").AssertNoRuntimeText();
        (await EngineCli.RunAsync("serve", "memory:1M", "--socket", dir.Socket, "--tls-psk", psk.Keys))
            .AssertFailure(64, "need --tls on or --tls require").AssertNoRuntimeText();

        var missing = dir["no-such.psk"];
        (await EngineCli.RunAsync("serve", "memory:1M", "--socket", dir.Socket, "--tls", "require", "--tls-psk", missing))
            .AssertFailure(66, $"cannot read PSK key file {missing}: no such file").AssertNoRuntimeText();

        var bad = dir["bad.psk"];
        await File.WriteAllTextAsync(bad, "alice:00112233\nbob 4455\n");
        (await EngineCli.RunAsync("serve", "memory:1M", "--socket", dir.Socket, "--tls", "on", "--tls-psk", bad))
            .AssertFailure(65, $"{bad}:2: expected username:hexkey").AssertNoRuntimeText();
    }

    private static string PskUri(TempDir dir, string user, string keys, string export = "") =>
        $"nbds+unix://{user}@/{export}?socket={dir.Socket}&tls-psk-file={keys}";
}
