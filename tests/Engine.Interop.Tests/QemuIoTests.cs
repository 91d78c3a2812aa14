using Engine.Interop.Tests.Infrastructure;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests;

/// <summary>qemu-io (QEMU 7.2) driving single NBD commands: write, read with pattern check, discard, write-zeroes, FUA.</summary>
public sealed class QemuIoTests
{
    private const long Size = 1 * MiB;

    [Fact]
    public async Task WriteReadDiscardZero_VerifiedByQemuIoAndOnDisk()
    {
        using var dir = new TempDir();
        var backing = CreateRandom(dir["disk.raw"], Size, 61);
        var original = File.ReadAllBytes(backing);
        await using var server = new EngineServer(dir);
        server.Export("", server.OpenFile(backing)).Listen();

        // One connection: every kind of command the qemu NBD client sends.
        var io = await QemuIo(server.Uri(),
            "write -P 0xab 0 64k",
            "read -P 0xab 0 64k",
            "discard 64k 64k",
            "read -P 0 64k 64k",
            "write -z 128k 64k",
            "read -P 0 128k 64k",
            "write -z -u 192k 64k",
            "read -P 0 192k 64k",
            "write -f -P 0xcd 256k 64k",
            "read -P 0xcd 256k 64k",
            "write -z -n 320k 64k",
            "read -P 0 320k 64k",
            "flush");
        foreach (var expected in new[]
                 {
                     "wrote 65536/65536 bytes at offset 0", "read 65536/65536 bytes at offset 0",
                     "discard 65536/65536 bytes at offset 65536", "read 65536/65536 bytes at offset 65536",
                     "wrote 65536/65536 bytes at offset 131072", "read 65536/65536 bytes at offset 131072",
                     "wrote 65536/65536 bytes at offset 196608", "read 65536/65536 bytes at offset 196608",
                     "wrote 65536/65536 bytes at offset 262144", "read 65536/65536 bytes at offset 262144",
                     "wrote 65536/65536 bytes at offset 327680", "read 65536/65536 bytes at offset 327680",
                 })
        {
            Assert.True(io.Stdout.Contains(expected, StringComparison.Ordinal), $"missing \"{expected}\"\n{io}");
        }

        // A second connection sees the same, including the untouched tail.
        var verify = await QemuIo(server.Uri(),
            "read -P 0xab 0 64k",
            "read -P 0 64k 192k",
            "read -P 0xcd 256k 64k",
            "read -P 0 320k 64k",
            "read -v 384k 16");
        Assert.Contains("read 196608/196608 bytes at offset 65536", verify.Stdout, StringComparison.Ordinal);
        var tail = Convert.ToHexStringLower(original.AsSpan(384 * KiB, 16));
        var dumped = string.Concat(verify.Stdout.Split('\n').Where(l => l.StartsWith("00060000:", StringComparison.Ordinal))
            .SelectMany(l => l[10..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(16)));
        Assert.True(dumped == tail, $"read -v 384k 16: expected {tail}, got {dumped}\n{verify}");

        // The backing file, read directly.
        var disk = File.ReadAllBytes(backing);
        Assert.All(disk.AsSpan(0, 64 * KiB).ToArray(), b => Assert.Equal(0xab, b));
        Assert.True(disk.AsSpan(64 * KiB, 192 * KiB).IndexOfAnyExcept((byte)0) < 0, "bytes 64k..256k of the backing file are not all zero");
        Assert.All(disk.AsSpan(256 * KiB, 64 * KiB).ToArray(), b => Assert.Equal(0xcd, b));
        Assert.True(disk.AsSpan(320 * KiB, 64 * KiB).IndexOfAnyExcept((byte)0) < 0, "bytes 320k..384k (fast zero) of the backing file are not all zero");
        Assert.True(disk.AsSpan(384 * KiB).SequenceEqual(original.AsSpan(384 * KiB)), "bytes after 384k changed");

        // FileBlockDevice trims by punching holes: the discarded range is deallocated.
        var layout = SeekLayout(backing);
        Assert.True(layout.Any(r => !r.Data && r.Offset <= 64 * KiB && r.End >= 128 * KiB),
            $"discard 64k 64k did not punch a hole in the backing file:\n{Describe(layout)}");
    }

    [Fact]
    public async Task PatternVerification_DetectsWrongData()
    {
        // The control for the test above: qemu-io really compares, so a wrong pattern is reported.
        using var dir = new TempDir();
        var backing = CreateRandom(dir["disk.raw"], Size, 62);
        await using var server = new EngineServer(dir);
        server.Export("", server.OpenFile(backing)).Listen();

        var io = await Tool.RunAsync("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 4k", "-c", "read -P 0x22 0 4k", server.Uri());
        Assert.True(io.Stdout.Contains("Pattern verification failed", StringComparison.Ordinal), $"expected a pattern mismatch\n{io}");
    }

    [Fact]
    public async Task ReadOnlyExport_WriteIsRefused()
    {
        using var dir = new TempDir();
        var backing = CreateRandom(dir["disk.raw"], Size, 63);
        var before = Sha256(backing);
        await using var server = new EngineServer(dir);
        server.Export("ro", server.OpenFile(backing, readOnly: true), readOnly: true).Listen();

        // qemu opens a read-only export read-only: -r works, a write is refused.
        var read = await QemuIo(server.Uri("ro"), readOnly: true, "read 0 64k");
        Assert.Contains("read 65536/65536 bytes at offset 0", read.Stdout, StringComparison.Ordinal);
        var write = await Tool.RunAsync("qemu-io", "-f", "raw", "-c", "write -P 0x55 0 4k", server.Uri("ro"));
        Assert.True(write.ExitCode != 0 && !write.Stdout.Contains("wrote", StringComparison.Ordinal), $"write to a read-only export succeeded\n{write}");
        Assert.Equal(before, Sha256(backing));
    }

    private static Task<ToolResult> QemuIo(string uri, params string[] commands) => QemuIo(uri, false, commands);

    private static async Task<ToolResult> QemuIo(string uri, bool readOnly, params string[] commands)
    {
        var args = new List<string> { "-f", "raw" };
        if (readOnly)
        {
            args.Add("-r");
        }

        foreach (var command in commands)
        {
            args.Add("-c");
            args.Add(command);
        }

        args.Add(uri);
        var result = (await Tool.RunAsync("qemu-io", args, Tool.DefaultTimeout)).AssertSuccess();
        foreach (var bad in new[] { "Pattern verification failed", "failed", "error", "Error" })
        {
            Assert.False(result.Stdout.Contains(bad, StringComparison.Ordinal) || result.Stderr.Contains(bad, StringComparison.Ordinal),
                $"qemu-io reported \"{bad}\"\n{result}");
        }

        return result;
    }
}
