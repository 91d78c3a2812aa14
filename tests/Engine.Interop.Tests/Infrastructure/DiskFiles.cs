using System.Security.Cryptography;
using Engine.Blocks;
using Engine.Blocks.Native;

namespace Engine.Interop.Tests.Infrastructure;

/// <summary>A run of a file's allocation map: data, or a hole that reads as zeroes.</summary>
internal readonly record struct Run(long Offset, long Length, bool Data)
{
    public long End => Offset + Length;

    /// <summary>The base:allocation status nbdinfo/libnbd report for this run: 0 data, 3 hole|zero.</summary>
    public uint NbdType => Data ? 0u : 3u;

    public override string ToString() => $"[{Offset}, {End}) {(Data ? "data" : "hole")}";
}

/// <summary>Creates test images and inspects files: checksums, hole/data layout, allocation.</summary>
internal static class DiskFiles
{
    public const int KiB = 1024;
    public const int MiB = 1024 * 1024;

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
#pragma warning disable CA5394 // deterministic test data, not security
        new Random(seed).NextBytes(bytes);
#pragma warning restore CA5394
        return bytes;
    }

    /// <summary>A fully allocated file of pseudo-random bytes.</summary>
    public static string CreateRandom(string path, long size, int seed)
    {
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.Write);
        var chunk = RandomBytes(MiB, seed);
        for (long offset = 0; offset < size; offset += chunk.Length)
        {
            chunk[0] = (byte)(offset >> 20); // no two chunks alike
            chunk[1] = (byte)seed;
            RandomAccess.Write(handle, chunk.AsSpan(0, (int)Math.Min(chunk.Length, size - offset)), offset);
        }

        return path;
    }

    /// <summary>A sparse file of <paramref name="size"/> bytes with pseudo-random data only in <paramref name="data"/>.</summary>
    public static string CreateSparse(string path, long size, int seed, params (long Offset, int Length)[] data)
    {
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.Write);
        RandomAccess.SetLength(handle, size);
        var i = 0;
        foreach (var (offset, length) in data)
        {
            RandomAccess.Write(handle, RandomBytes(length, seed + i++), offset);
        }

        return path;
    }

    /// <summary>The layout <see cref="CreateSparse"/> produces, when the ranges are block-aligned.</summary>
    public static List<Run> ExpectedLayout(long size, params (long Offset, int Length)[] data)
    {
        var runs = new List<Run>();
        long at = 0;
        foreach (var (offset, length) in data.OrderBy(d => d.Offset))
        {
            if (offset > at)
            {
                runs.Add(new Run(at, offset - at, false));
            }

            runs.Add(new Run(offset, length, true));
            at = offset + length;
        }

        if (at < size)
        {
            runs.Add(new Run(at, size - at, false));
        }

        return Merge(runs);
    }

    /// <summary>The file's data/hole layout according to SEEK_DATA/SEEK_HOLE.</summary>
    public static List<Run> SeekLayout(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        var size = RandomAccess.GetLength(handle);
        var runs = new List<Run>();
        long at = 0;
        while (at < size)
        {
            var data = LibC.LSeek(handle, at, LibC.SEEK_DATA);
            if (data < 0)
            {
                var errno = LibC.LastErrno;
                Assert.True(errno == Errno.ENXIO, $"lseek(SEEK_DATA, {at}) on {path}: errno {errno}");
                data = size;
            }

            if (data > at)
            {
                runs.Add(new Run(at, data - at, false));
            }

            if (data >= size)
            {
                break;
            }

            var hole = LibC.LSeek(handle, data, LibC.SEEK_HOLE);
            Assert.True(hole > data, $"lseek(SEEK_HOLE, {data}) on {path} returned {hole}");
            runs.Add(new Run(data, hole - data, true));
            at = hole;
        }

        return Merge(runs);
    }

    public static List<Run> Merge(IEnumerable<Run> runs)
    {
        var merged = new List<Run>();
        foreach (var run in runs)
        {
            if (merged.Count > 0 && merged[^1].Data == run.Data && merged[^1].End == run.Offset)
            {
                merged[^1] = merged[^1] with { Length = merged[^1].Length + run.Length };
            }
            else
            {
                merged.Add(run);
            }
        }

        return merged;
    }

    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public static byte[] ReadRange(string path, long offset, int length)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        var buffer = new byte[length];
        Assert.Equal(length, RandomAccess.Read(handle, buffer, offset));
        return buffer;
    }

    /// <summary>Bytes actually allocated on disk (st_blocks × block unit), from <c>stat</c>.</summary>
    public static async Task<long> AllocatedBytesAsync(string path)
    {
        var result = (await Tool.RunAsync("stat", "-c", "%b %B", path)).AssertSuccess();
        var parts = result.Stdout.Trim().Split(' ');
        return long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) *
               long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    public static string Describe(IEnumerable<Run> runs) => string.Join("\n", runs.Select(r => r.ToString()));
}
