using System.Text;
using Engine.Qcow2.Format;

namespace Engine.Qcow2.Writing;

/// <summary>
/// Lays out a new, empty version 3 image the way <c>qemu-img create -f qcow2</c> does: the header in cluster 0, the
/// refcount table in cluster 1, the first refcount block in cluster 2, the L1 table from cluster 3. Refcount order 4,
/// no lazy refcounts, zlib compression type.
/// </summary>
internal static class ImageCreator
{
    /// <summary>The largest guest size accepted: qemu's limit for the L1 table (32 MiB of entries).</summary>
    private const long MaxL1Entries = Qcow2Layout.MaxL1TableBytes / Qcow2Layout.TableEntrySize;

    /// <summary>Writes the empty image into <paramref name="file"/> (which is empty) and syncs it.</summary>
    public static void Write(HostFile file, Qcow2CreateOptions options)
    {
        var clusterSize = options.ClusterSize;
        if (clusterSize < 1 << Qcow2Layout.MinClusterBits || clusterSize > 1 << Qcow2Layout.MaxClusterBits || !int.IsPow2(clusterSize))
        {
            throw new ArgumentException($"cluster size {clusterSize} is not a power of two from 512 bytes to 2 MiB");
        }

        if (options.Size < 0)
        {
            throw new ArgumentException($"size {options.Size} is negative");
        }

        var clusterBits = int.Log2(clusterSize);
        var size = (options.Size + 511) & ~511L;
        var l1Entries = L1Entries(size, clusterBits);
        if (l1Entries > MaxL1Entries)
        {
            throw new ArgumentException($"size {options.Size} needs {l1Entries} L1 entries, more than qemu accepts ({MaxL1Entries}) at cluster size {clusterSize}");
        }

        var l1Clusters = Math.Max(1, (int)((l1Entries * 8 + clusterSize - 1) / clusterSize));
        var used = 3 + l1Clusters;
        var blockEntries = clusterSize / 2;
        if (used > blockEntries)
        {
            throw new ArgumentException($"size {options.Size} needs an L1 table too large for cluster size {clusterSize}; choose larger clusters");
        }

        var header = new byte[clusterSize];
        WriteHeader(header, clusterBits, size, (int)l1Entries, options.BackingFile, options.BackingFormat);
        file.Write(0, header);

        var table = new byte[clusterSize];
        HeaderLayout.Put(table, 0, (ulong)(2L * clusterSize));
        file.Write(clusterSize, table);

        var block = new byte[clusterSize];
        for (var i = 0; i < used; i++)
        {
            block[(i * 2) + 1] = 1;
        }

        file.Write(2L * clusterSize, block);
        file.Extend((long)used * clusterSize);
        file.Sync();
    }

    /// <summary>L1 entries a guest of <paramref name="size"/> bytes needs.</summary>
    public static long L1Entries(long size, int clusterBits)
    {
        var bytesPerL2 = 1L << (clusterBits + clusterBits - 3);
        return (size + bytesPerL2 - 1) / bytesPerL2;
    }

    private static void WriteHeader(Span<byte> header, int clusterBits, long size, int l1Entries, string? backingFile, string? backingFormat)
    {
        var clusterSize = 1 << clusterBits;
        HeaderLayout.Put(header, 0, Qcow2Magic.Value);
        HeaderLayout.Put(header, HeaderLayout.Version, 3u);
        HeaderLayout.Put(header, HeaderLayout.ClusterBits, (uint)clusterBits);
        HeaderLayout.Put(header, HeaderLayout.Size, (ulong)size);
        HeaderLayout.Put(header, HeaderLayout.L1Size, (uint)l1Entries);
        HeaderLayout.Put(header, HeaderLayout.L1TableOffset, (ulong)(3L * clusterSize));
        HeaderLayout.Put(header, HeaderLayout.RefcountTableOffset, (ulong)clusterSize);
        HeaderLayout.Put(header, HeaderLayout.RefcountTableClusters, 1u);
        HeaderLayout.Put(header, HeaderLayout.RefcountOrder, 4u);
        HeaderLayout.Put(header, HeaderLayout.HeaderLength, (uint)HeaderLayout.Length);

        var at = HeaderLayout.Length;
        if (backingFormat is not null)
        {
            var name = Encoding.UTF8.GetBytes(backingFormat);
            HeaderLayout.Put(header, at, HeaderLayout.BackingFormatExtension);
            HeaderLayout.Put(header, at + 4, (uint)name.Length);
            name.CopyTo(header[(at + 8)..]);
            at += 8 + ((name.Length + 7) & ~7);
        }

        // The end-of-extensions marker: type 0, length 0 (already zero).
        at += 8;
        if (backingFile is not null)
        {
            var name = Encoding.UTF8.GetBytes(backingFile);
            if (name.Length > 1023 || at + name.Length > clusterSize)
            {
                throw new ArgumentException($"backing file name '{backingFile}' is longer than qcow2 allows (1023 bytes)");
            }

            name.CopyTo(header[at..]);
            HeaderLayout.Put(header, HeaderLayout.BackingFileOffset, (ulong)at);
            HeaderLayout.Put(header, HeaderLayout.BackingFileSize, (uint)name.Length);
        }
    }
}
