using System.Text.Json;
using Engine.Blocks;
using Engine.Interop.Tests.Infrastructure;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests;

/// <summary>nbdinfo (libnbd 1.14): export listing, size, capability flags, JSON, allocation map.</summary>
public sealed class NbdinfoTests
{
    private const long RwSize = 8 * MiB;
    private const long RoSize = 2 * MiB;
    private const long MemSize = 4 * MiB;

    private static readonly (long Offset, int Length)[] RwData = [(1 * MiB, 64 * KiB), (3 * MiB, 1 * MiB), (8 * MiB - 4 * KiB, 4 * KiB)];

    /// <summary>
    /// nbdinfo --can FLAG ↔ the device capability the server turns into the transmission flag. Exception allowed by
    /// the spec: SEND_FAST_ZERO may be advertised without the FastZero capability if each fast-zero request is then
    /// refused with ENOTSUP (NbdshTests checks that path).
    /// </summary>
    private static readonly (string Flag, BlockDeviceCapabilities Capability)[] CanFlags =
    [
        ("flush", BlockDeviceCapabilities.Flush),
        ("fua", BlockDeviceCapabilities.Fua),
        ("trim", BlockDeviceCapabilities.Trim),
        ("zero", BlockDeviceCapabilities.WriteZeroes),
        ("fast-zero", BlockDeviceCapabilities.FastZero),
        ("cache", BlockDeviceCapabilities.Cache),
        ("multi-conn", BlockDeviceCapabilities.MultiConnSafe),
    ];

    private sealed record Fixture(EngineServer Server, IBlockDevice Rw, IBlockDevice Ro, IBlockDevice Mem, string RwPath);

    private static Fixture Start(TempDir dir)
    {
        var rwPath = CreateSparse(dir["rw.raw"], RwSize, 11, RwData);
        var roPath = CreateRandom(dir["ro.raw"], RoSize, 12);
        var server = new EngineServer(dir);
        var rw = server.OpenFile(rwPath);
        var ro = server.OpenFile(roPath, readOnly: true);
        var mem = server.Memory(MemSize);
        server.Export("rw", rw, "read-write disk")
              .Export("ro", ro, "read-only disk", readOnly: true)
              .Export("mem", mem, "memory disk")
              .Listen();
        return new Fixture(server, rw, ro, mem, rwPath);
    }

    [Fact]
    public async Task List_ShowsEveryExportWithNameAndDescription()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;

        var text = (await Tool.RunAsync("nbdinfo", "--list", f.Server.Uri())).AssertSuccess();
        foreach (var (name, description) in new[] { ("rw", "read-write disk"), ("ro", "read-only disk"), ("mem", "memory disk") })
        {
            Assert.True(text.Stdout.Contains($"export=\"{name}\":", StringComparison.Ordinal), $"export {name} missing\n{text}");
            Assert.True(text.Stdout.Contains($"description: {description}", StringComparison.Ordinal), $"description of {name} missing\n{text}");
        }

        var json = (await Tool.RunAsync("nbdinfo", "--list", "--json", f.Server.Uri())).AssertSuccess();
        using var doc = JsonDocument.Parse(json.Stdout);
        var exports = doc.RootElement.GetProperty("exports").EnumerateArray()
            .ToDictionary(e => e.GetProperty("export-name").GetString()!, e => e);
        Assert.Equal(["mem", "ro", "rw"], exports.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal("read-write disk", exports["rw"].GetProperty("description").GetString());
        Assert.Equal("read-only disk", exports["ro"].GetProperty("description").GetString());
        Assert.Equal("memory disk", exports["mem"].GetProperty("description").GetString());
        Assert.Equal(RwSize, exports["rw"].GetProperty("export-size").GetInt64());
        Assert.Equal(RoSize, exports["ro"].GetProperty("export-size").GetInt64());
        Assert.Equal(MemSize, exports["mem"].GetProperty("export-size").GetInt64());
        Assert.False(exports["rw"].GetProperty("is_read_only").GetBoolean());
        Assert.True(exports["ro"].GetProperty("is_read_only").GetBoolean());
        Assert.False(exports["mem"].GetProperty("is_read_only").GetBoolean());
    }

    [Fact]
    public async Task Size_IsExact_AndEmptyNameSelectsTheFirstExport()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;

        Assert.Equal($"{RwSize}", (await Tool.RunAsync("nbdinfo", "--size", f.Server.Uri("rw"))).AssertSuccess().Stdout.Trim());
        Assert.Equal($"{RoSize}", (await Tool.RunAsync("nbdinfo", "--size", f.Server.Uri("ro"))).AssertSuccess().Stdout.Trim());
        Assert.Equal($"{MemSize}", (await Tool.RunAsync("nbdinfo", "--size", f.Server.Uri("mem"))).AssertSuccess().Stdout.Trim());
        Assert.Equal($"{RwSize}", (await Tool.RunAsync("nbdinfo", "--size", f.Server.Uri(""))).AssertSuccess().Stdout.Trim());
    }

    [Fact]
    public async Task UnknownExport_IsRefused()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;

        var result = await Tool.RunAsync("nbdinfo", "--size", f.Server.Uri("nosuch"));
        Assert.True(result.ExitCode == 1, $"an unknown export name must be refused during the handshake\n{result}");
        Assert.DoesNotContain($"{RwSize}", result.Stdout, StringComparison.Ordinal);

        // The refusal must not take the server down.
        Assert.Equal($"{RwSize}", (await Tool.RunAsync("nbdinfo", "--size", f.Server.Uri("rw"))).AssertSuccess().Stdout.Trim());
    }

    [Fact]
    public async Task CanAndIs_ReadWriteExport_MatchDeviceCapabilities()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;
        var uri = f.Server.Uri("rw");
        var caps = f.Rw.Capabilities;

        // A raw file on ext4 /tmp: everything a file can do is expected.
        foreach (var must in new[] { BlockDeviceCapabilities.Flush, BlockDeviceCapabilities.Fua, BlockDeviceCapabilities.Trim, BlockDeviceCapabilities.WriteZeroes, BlockDeviceCapabilities.FastZero })
        {
            Assert.True(caps.HasFlag(must), $"FileBlockDevice on /tmp should report {must}; reports {caps}");
        }

        await AssertFlag(uri, "--is", "read-only", false);
        await AssertFlag(uri, "--can", "write", true);
        await AssertFlag(uri, "--can", "read", true);
        await AssertFlag(uri, "--can", "connect", true);
        await AssertFlag(uri, "--can", "structured-reply", true);
        await AssertFlag(uri, "--can", "df", true);
        foreach (var (flag, capability) in CanFlags.Where(c => c.Flag != "fast-zero" || caps.HasFlag(c.Capability)))
        {
            await AssertFlag(uri, "--can", flag, caps.HasFlag(capability), $"device capabilities: {caps}");
        }
    }

    [Fact]
    public async Task CanAndIs_ReadOnlyExport()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;
        var uri = f.Server.Uri("ro");
        var caps = f.Ro.Capabilities;

        await AssertFlag(uri, "--is", "read-only", true);
        await AssertFlag(uri, "--can", "write", false);
        await AssertFlag(uri, "--can", "read", true);

        // Commands that write are refused on a read-only export, so they are not advertised (as qemu-nbd and nbdkit do).
        await AssertFlag(uri, "--can", "trim", false);
        await AssertFlag(uri, "--can", "zero", false);
        await AssertFlag(uri, "--can", "fast-zero", false);
        foreach (var (flag, capability) in CanFlags.Where(c => c.Flag is "flush" or "cache" or "multi-conn"))
        {
            await AssertFlag(uri, "--can", flag, caps.HasFlag(capability), $"device capabilities: {caps}");
        }
    }

    [Fact]
    public async Task Json_DescribesTheExport()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;

        var result = (await Tool.RunAsync("nbdinfo", "--json", f.Server.Uri("rw"))).AssertSuccess();
        using var doc = JsonDocument.Parse(result.Stdout);
        var root = doc.RootElement;
        Assert.Equal("newstyle-fixed", root.GetProperty("protocol").GetString());
        Assert.True(root.GetProperty("structured").GetBoolean(), "structured replies not negotiated");
        Assert.False(root.GetProperty("TLS").GetBoolean());
        var export = Assert.Single(root.GetProperty("exports").EnumerateArray());
        Assert.Equal("rw", export.GetProperty("export-name").GetString());
        Assert.Equal("read-write disk", export.GetProperty("description").GetString());
        Assert.Equal(RwSize, export.GetProperty("export-size").GetInt64());
        Assert.Contains("base:allocation", export.GetProperty("contexts").EnumerateArray().Select(c => c.GetString()));
        Assert.False(export.GetProperty("is_read_only").GetBoolean());
        Assert.True(export.GetProperty("can_df").GetBoolean());
        var caps = f.Rw.Capabilities;
        foreach (var (flag, capability) in CanFlags.Where(c => c.Flag != "fast-zero" || caps.HasFlag(c.Capability)))
        {
            var property = "can_" + flag.Replace('-', '_');
            Assert.True(export.GetProperty(property).GetBoolean() == caps.HasFlag(capability), $"{property} vs device {caps}\n{result}");
        }
    }

    [Fact]
    public async Task Map_SparseFile_EqualsTheHoleDataLayout()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;

        var expected = ExpectedLayout(RwSize, RwData);
        Assert.True(expected.SequenceEqual(SeekLayout(f.RwPath)), $"the filesystem did not keep the layout we wrote:\n{Describe(SeekLayout(f.RwPath))}");

        var result = (await Tool.RunAsync("nbdinfo", "--map", "--json", f.Server.Uri("rw"))).AssertSuccess();
        using var doc = JsonDocument.Parse(result.Stdout);
        var reported = doc.RootElement.EnumerateArray().Select(e => (
            Offset: e.GetProperty("offset").GetInt64(),
            Length: e.GetProperty("length").GetInt64(),
            Type: e.GetProperty("type").GetUInt32())).ToList();

        Assert.All(reported, e => Assert.True(e.Type is 0 or 3, $"unexpected base:allocation type {e.Type} at {e.Offset}\n{result}"));
        var runs = Merge(reported.Select(e => new Run(e.Offset, e.Length, e.Type == 0)));
        Assert.True(runs.SequenceEqual(expected), $"expected map:\n{Describe(expected)}\nnbdinfo --map:\n{result.Stdout}");

        // Text form, first line: the leading hole.
        var text = (await Tool.RunAsync("nbdinfo", "--map", f.Server.Uri("rw"))).AssertSuccess();
        var first = text.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["0", $"{1 * MiB}", "3", "hole,zero"], first);
    }

    private static async Task AssertFlag(string uri, string kind, string flag, bool expected, string? context = null)
    {
        var result = await Tool.RunAsync("nbdinfo", kind, flag, uri);
        Assert.True(result.ExitCode is 0 or 2, $"nbdinfo {kind} {flag} failed to query (exit {result.ExitCode})\n{result}");
        Assert.True(result.ExitCode == (expected ? 0 : 2),
            $"nbdinfo {kind} {flag}: expected {(expected ? "true (exit 0)" : "false (exit 2)")}, got exit {result.ExitCode}. {context}\n{result}");
    }
}
