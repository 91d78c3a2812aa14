using System.Security.Cryptography;
using System.Text.Json;
using Engine.Blocks;

namespace Engine.Qcow2.Tests;

/// <summary>Images made by qemu's tools for the reader tests, and what qemu says about them.</summary>
internal static class ReadingImages
{
    public const int Cluster = 64 * 1024;

    /// <summary>
    /// A raw file of <paramref name="clusters"/> 64 KiB clusters mixing random data, compressible text, written zeroes,
    /// holes, and clusters only partly written, so every kind of cluster and run appears after conversion.
    /// </summary>
    public static string WriteSource(TempDir dir, string name, int clusters, int seed)
    {
        var path = dir[name];
        var random = new Random(seed);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        file.SetLength((long)clusters * Cluster);
        var cluster = new byte[Cluster];
        var text = "the quick brown fox jumps over the lazy qcow2 cluster "u8.ToArray();
        for (var i = 0; i < clusters; i++)
        {
            var kind = random.Next(6);
            switch (kind)
            {
                case 0:
                    continue; // a hole
                case 1:
                    Array.Clear(cluster);
                    break;
                case 2:
                    random.NextBytes(cluster);
                    break;
                case 3:
                    for (var j = 0; j < Cluster; j++)
                    {
                        cluster[j] = text[(j + i) % text.Length];
                    }

                    break;
                default:
                    Array.Clear(cluster);
                    random.NextBytes(cluster.AsSpan(random.Next(Cluster / 2), 4096));
                    break;
            }

            file.Position = (long)i * Cluster;
            file.Write(cluster);
        }

        return path;
    }

    public static async Task QemuImgAsync(params string[] args) => (await Tool.RunAsync("qemu-img", args)).AssertSuccess();

    /// <summary>Runs qemu-io commands on an image (read-write).</summary>
    public static async Task QemuIoAsync(string image, string format, params string[] commands)
    {
        var args = new List<string> { "-f", format };
        foreach (var command in commands)
        {
            args.Add("-c");
            args.Add(command);
        }

        args.Add(image);
        (await Tool.RunAsync("qemu-io", [.. args], Tool.DefaultTimeout)).AssertSuccess();
    }

    /// <summary>SHA-256 of what qemu reads from the image (converted to raw).</summary>
    public static async Task<string> QemuChecksumAsync(TempDir dir, string image)
    {
        var raw = dir["qemu-view.raw"];
        await QemuImgAsync("convert", "-O", "raw", image, raw);
        await using var stream = File.OpenRead(raw);
        var hash = Convert.ToHexString(await SHA256.HashDataAsync(stream));
        File.Delete(raw);
        return hash;
    }

    /// <summary>SHA-256 of the whole device, read in pieces of <paramref name="piece"/> bytes.</summary>
    public static async Task<string> ChecksumAsync(IBlockDevice device, int piece = 1 << 20)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[piece];
        for (var offset = 0L; offset < device.Size; offset += piece)
        {
            var length = (int)Math.Min(piece, device.Size - offset);
            await device.ReadAsync(offset, buffer.AsMemory(0, length));
            hash.AppendData(buffer, 0, length);
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }

    /// <summary>
    /// <c>qemu-img map --output=json</c> as (offset, length, status) with status the NBD <c>base:allocation</c> bits
    /// and the allocation depth (0 unallocated, 1 top…), merged where equal.
    /// </summary>
    public static async Task<(List<Extent> Allocation, List<Extent> Depth)> QemuMapAsync(string image)
    {
        var result = await Tool.RunAsync("qemu-img", "map", "--output=json", image);
        result.AssertSuccess();
        var allocation = new List<Extent>();
        var depth = new List<Extent>();
        foreach (var entry in JsonDocument.Parse(result.Stdout).RootElement.EnumerateArray())
        {
            var start = entry.GetProperty("start").GetInt64();
            var length = entry.GetProperty("length").GetInt64();
            var flags = (entry.GetProperty("data").GetBoolean() ? ExtentFlags.Data : ExtentFlags.Hole) |
                        (entry.GetProperty("zero").GetBoolean() ? ExtentFlags.Zero : ExtentFlags.Data);
            Append(allocation, new Extent(start, length, flags));
            var present = entry.GetProperty("present").GetBoolean();
            Append(depth, new Extent(start, length, present ? (ExtentFlags)(entry.GetProperty("depth").GetInt32() + 1) : 0));
        }

        return (allocation, depth);
    }

    /// <summary>Every extent a query reports over the whole device, merged where equal.</summary>
    public static async Task<List<Extent>> MapAsync(long size, ExtentQuery query)
    {
        var list = new List<Extent>();
        var extents = new ExtentList();
        for (var offset = 0L; offset < size;)
        {
            extents.Clear();
            var covered = await query(offset, size - offset, extents, CancellationToken.None);
            Assert.InRange(covered, 1, size - offset);
            Assert.Equal(offset + covered, extents.End);
            foreach (var extent in extents.AsSpan())
            {
                Append(list, extent);
            }

            offset += covered;
        }

        return list;
    }

    private static void Append(List<Extent> list, Extent extent)
    {
        if (list.Count > 0 && list[^1].Flags == extent.Flags && list[^1].End == extent.Offset)
        {
            list[^1] = list[^1] with { Length = list[^1].Length + extent.Length };
        }
        else
        {
            list.Add(extent);
        }
    }
}
