using System.Security.Cryptography;
using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Interop.Tests.Infrastructure;
using Engine.Nbd.Client;
using static Engine.Interop.Tests.Client.ClientInterop;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Client;

/// <summary>Engine's client against Engine's own server: extended headers, 64-bit block status, and `engine copy` end to end.</summary>
public sealed class EngineServerClientTests
{
    private const long GiB = 1L << 30;

    [Fact]
    public async Task ExtendedHeaders_BlockStatusOver4GiB_InOneCall()
    {
        using var dir = new TempDir();
        await using var server = new EngineServer(dir);
        var memory = server.Memory(16 * GiB);
        server.Export("big", memory, "16 GiB sparse").Listen();
        var a = RandomBytes(64 * KiB, 601);
        var b = RandomBytes(128 * KiB, 602);
        await memory.WriteAsync(GiB, a);
        await memory.WriteAsync(12 * GiB, b);

        await using var client = await NbdClient.ConnectAsync(server.Uri("big"));
        Assert.True(client.Export.ExtendedHeaders, "Engine's server offers extended headers");
        Assert.True(client.Export.StructuredReplies);
        Assert.Equal(16 * GiB, client.Size);
        Assert.Equal("16 GiB sparse", client.Export.Description);

        var extents = new ExtentList();
        var covered = await client.GetExtentsAsync("base:allocation", 0, 16 * GiB, extents);
        Assert.True(covered > 4 * GiB, $"one block status call covered only {covered} bytes");
        Extent[] expected =
        [
            new(0, GiB, ExtentFlags.HoleZero), new(GiB, 64 * KiB, ExtentFlags.Data), new(GiB + (64 * KiB), (11 * GiB) - (64 * KiB), ExtentFlags.HoleZero),
            new(12 * GiB, 128 * KiB, ExtentFlags.Data), new((12 * GiB) + (128 * KiB), (4 * GiB) - (128 * KiB), ExtentFlags.HoleZero),
        ];
        Assert.Equal(16 * GiB, covered);
        Assert.Equal(expected, extents.AsSpan().ToArray());

        // Reads of holes come back as zeroes (the buffer starts as junk), data where it was written.
        AssertBytes(new byte[MiB], await ReadAsync(client, 5 * GiB, MiB), "read inside a hole");
        var around = await ReadAsync(client, GiB - 100, (64 * KiB) + 200);
        AssertBytes(new byte[100], around.AsMemory(0, 100), "hole before the data");
        AssertBytes(a, around.AsMemory(100, 64 * KiB), "data at 1 GiB");
        AssertBytes(new byte[100], around.AsMemory(100 + (64 * KiB)), "hole after the data");
        AssertBytes(b, await ReadAsync(client, 12 * GiB, 128 * KiB), "data at 12 GiB");

        // A write beyond 4 GiB through 64-bit headers, then zeroing a 4 GiB range (a 64-bit length) in one request.
        var c = RandomBytes(MiB, 603);
        await client.WriteAsync((8 * GiB) + 1, c);
        AssertBytes(c, await ReadAsync(client, (8 * GiB) + 1, MiB), "write at 8 GiB + 1");
        await client.WriteZeroesAsync(7 * GiB, 4 * GiB, WriteZeroesFlags.MayPunchHole);
        AssertBytes(new byte[MiB], await ReadAsync(client, (8 * GiB) + 1, MiB), "after zeroing 4 GiB");
        AssertBytes(b, await ReadAsync(client, 12 * GiB, 128 * KiB), "data at 12 GiB is outside the zeroed range and untouched");
    }

    [Fact]
    public async Task WithoutExtendedHeaders_StructuredRepliesAndSameExtents()
    {
        using var dir = new TempDir();
        await using var server = new EngineServer(dir);
        var memory = server.Memory(16 * GiB);
        server.Export("big", memory).Listen();
        await memory.WriteAsync(GiB, RandomBytes(64 * KiB, 611));
        await memory.WriteAsync((12 * GiB) - 4096, RandomBytes(8192, 612));

        await using var wide = await NbdClient.ConnectAsync(server.Uri("big"));
        await using var narrow = await NbdClient.ConnectAsync(server.Uri("big"), new NbdClientOptions { ExtendedHeaders = false });
        Assert.False(narrow.Export.ExtendedHeaders);
        Assert.True(narrow.Export.StructuredReplies);

        var extents = new ExtentList();
        var covered = await narrow.GetExtentsAsync("base:allocation", 0, 16 * GiB, extents);
        Assert.True(covered is > 0 and < 4 * GiB, $"a 32-bit block status reply covered {covered} bytes");
        AssertMapsEqual(await ClientMapAsync(wide), await ClientMapAsync(narrow), "the whole map with and without extended headers");

        AssertBytes(new byte[4 * MiB], await ReadAsync(narrow, 3 * GiB, 4 * MiB), "hole read with structured replies");
        AssertBytes(await ReadAsync(wide, (12 * GiB) - 8192, 16384), await ReadAsync(narrow, (12 * GiB) - 8192, 16384), "data read by both");

        await using var simple = await NbdClient.ConnectAsync(server.Uri("big"), new NbdClientOptions { ExtendedHeaders = false, StructuredReplies = false });
        Assert.False(simple.Export.StructuredReplies);
        AssertBytes(await ReadAsync(wide, GiB - 10, 100_000), await ReadAsync(simple, GiB - 10, 100_000), "data read with simple replies");
    }

    [Fact]
    public async Task EngineCopy_BetweenEngineExports_AndToFiles_ByteExact()
    {
        using var dir = new TempDir();
        const int size = 48 * MiB;
        var source = CreateSparse(dir["src.raw"], size, 620, (0, 64 * KiB), (5 * MiB, 3 * MiB), (20 * MiB + 4096, 100_000), (size - MiB, MiB));
        var sha = Sha256(source);
        await using var server = new EngineServer(dir);
        var copy1 = server.Memory(size);
        var copyN = server.Memory(size);
        server.Export("src", server.OpenFile(source, readOnly: true), readOnly: true)
              .Export("dst1", copy1)
              .Export("dstN", copyN)
              .Listen();

        (await EngineAsync("copy", server.Uri("src"), server.Uri("dst1"), "--connections", "1")).AssertSuccess();
        (await EngineAsync("copy", server.Uri("src"), server.Uri("dstN"))).AssertSuccess();
        Assert.Equal(sha, await DeviceSha256Async(copy1));
        Assert.Equal(sha, await DeviceSha256Async(copyN));
        Assert.True(copyN.AllocatedPages < size / MemoryBlockDevice.PageSize / 2, $"the copy wrote {copyN.AllocatedPages} pages: holes were not skipped");

        var file1 = dir["out1.raw"];
        var fileN = dir["outN.raw"];
        (await EngineAsync("copy", server.Uri("dstN"), file1, "--connections", "1")).AssertSuccess();
        (await EngineAsync("copy", server.Uri("src"), fileN, "--requests", "8", "--request-size", "64K")).AssertSuccess();
        Assert.Equal(sha, Sha256(file1));
        Assert.Equal(sha, Sha256(fileN));
        Assert.True(await AllocatedBytesAsync(fileN) < size / 2, "the file copy is sparse");

        var allocated = dir["full.raw"];
        (await EngineAsync("copy", server.Uri("src"), allocated, "--allocated")).AssertSuccess();
        Assert.Equal(sha, Sha256(allocated));
        Assert.True(await AllocatedBytesAsync(allocated) >= size, $"--allocated left holes: {await AllocatedBytesAsync(allocated)} of {size} bytes allocated");
        Assert.Equal([new Run(0, size, true)], SeekLayout(allocated));

        // A file as source, Engine export as target.
        await copy1.WriteZeroesAsync(0, size, WriteZeroesFlags.MayPunchHole);
        (await EngineAsync("copy", fileN, server.Uri("dst1"))).AssertSuccess();
        Assert.Equal(sha, await DeviceSha256Async(copy1));
    }

    [Fact]
    public async Task EngineCopy_Failures_ExitNonZero()
    {
        using var dir = new TempDir();
        var source = CreateRandom(dir["src.raw"], 2 * MiB, 630);
        await using var server = new EngineServer(dir);
        server.Export("ro", server.Memory(2 * MiB), readOnly: true).Listen();

        var missing = await EngineAsync("copy", dir["no-such-file.raw"], "null:");
        missing.AssertExitCode(66);

        var refused = await EngineAsync("copy", source, server.Uri("ro"));
        Assert.True(refused.ExitCode != 0, $"copy to a read-only export succeeded\n{refused}");
        // The client sees the READ_ONLY flag and refuses before writing; a server-side refusal would be EPERM.
        Assert.True(refused.Stderr.Contains("EPERM", StringComparison.Ordinal) || refused.Stderr.Contains("read-only", StringComparison.Ordinal),
            $"stderr names neither EPERM nor read-only\n{refused}");
    }

    private static async Task<string> DeviceSha256Async(MemoryBlockDevice device)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[4 * MiB];
        for (long offset = 0; offset < device.Size; offset += buffer.Length)
        {
            var length = (int)Math.Min(buffer.Length, device.Size - offset);
            await device.ReadAsync(offset, buffer.AsMemory(0, length));
            hash.AppendData(buffer, 0, length);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
