using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Engine.Ova.Tests.Infrastructure;

/// <summary>
/// Writes a streamOptimized VMDK in VMware's layout (which qemu-img does not produce): header with the grain
/// directory at the end, grains in any order, a grain table marker after the grains, the GD, a footer and an EOS
/// marker. qemu-img reads the result through its footer, so it is a reference for the converter.
/// </summary>
internal sealed class StreamVmdkWriter
{
    private const int GrainSectors = 128;
    private const int GrainBytes = GrainSectors * 512;

    /// <summary>Grain indexes in the order written (default: descending, to exercise out-of-order arrival).</summary>
    public Func<int, IEnumerable<int>>? Order { get; init; }

    /// <summary>Replaces the LBA written in a grain's marker (hostile streams).</summary>
    public Func<int, ulong, ulong>? LbaOverride { get; init; }

    /// <summary>Replaces the bytes compressed into a grain (hostile streams).</summary>
    public Func<int, byte[], byte[]>? PayloadOverride { get; init; }

    public bool Footer { get; init; } = true;

    /// <summary>Builds the VMDK for <paramref name="image"/> (whose length is a multiple of 512).</summary>
    public byte[] Build(byte[] image)
    {
        var capacity = image.Length / 512;
        var grains = (capacity + GrainSectors - 1) / GrainSectors;
        var output = new MemoryStream();
        output.Write(Header(capacity, ulong.MaxValue));
        var descriptor = new byte[20 * 512];
        Encoding.ASCII.GetBytes($"# Disk DescriptorFile\nversion=1\nCID=7a1b2c3d\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\nRW {capacity} SPARSE \"test.vmdk\"\n\nddb.adapterType = \"lsilogic\"\nddb.virtualHWVersion = \"4\"\n").CopyTo(descriptor, 0);
        output.Write(descriptor);
        output.Write(new byte[(128 - 21) * 512]);

        var markerSectors = new uint[grains];
        foreach (var index in (Order ?? (n => Enumerable.Range(0, n).Reverse()))(grains))
        {
            var start = index * GrainBytes;
            var data = image.AsSpan(start, Math.Min(GrainBytes, image.Length - start)).ToArray();
            if (data.AsSpan().IndexOfAnyExcept((byte)0) < 0 && PayloadOverride is null)
            {
                continue;
            }

            data = PayloadOverride?.Invoke(index, data) ?? data;
            var compressed = Compress(data);
            markerSectors[index] = (uint)(output.Position / 512);
            var marker = new byte[12];
            var lba = (ulong)index * GrainSectors;
            BinaryPrimitives.WriteUInt64LittleEndian(marker, LbaOverride?.Invoke(index, lba) ?? lba);
            BinaryPrimitives.WriteUInt32LittleEndian(marker.AsSpan(8), (uint)compressed.Length);
            output.Write(marker);
            output.Write(compressed);
            PadSector(output);
        }

        var tables = (grains + 511) / 512;
        var tableSectors = new uint[tables];
        for (var t = 0; t < tables; t++)
        {
            output.Write(Metadata(4, 1));
            tableSectors[t] = (uint)(output.Position / 512);
            var table = new byte[2048];
            for (var j = 0; j < 512 && t * 512 + j < grains; j++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(j * 4), markerSectors[t * 512 + j]);
            }

            output.Write(table);
        }

        var directorySectors = (tables * 4 + 511) / 512;
        output.Write(Metadata((ulong)directorySectors, 2));
        var gdOffset = (ulong)(output.Position / 512);
        var directory = new byte[directorySectors * 512];
        for (var t = 0; t < tables; t++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(directory.AsSpan(t * 4), tableSectors[t]);
        }

        output.Write(directory);
        if (Footer)
        {
            output.Write(Metadata(1, 3));
            output.Write(Header(capacity, gdOffset));
            output.Write(new byte[512]);
        }

        return output.ToArray();
    }

    public static byte[] Compress(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var zlib = new ZLibStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            zlib.Write(data);
        }

        return buffer.ToArray();
    }

    private static byte[] Header(long capacity, ulong gdOffset)
    {
        var header = new byte[512];
        "KDMV"u8.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), 3);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), 0x30001);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(12), (ulong)capacity);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(20), GrainSectors);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(28), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(36), 20);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(44), 512);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(56), gdOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(64), 128);
        header[73] = (byte)'\n';
        header[74] = (byte)' ';
        header[75] = (byte)'\r';
        header[76] = (byte)'\n';
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(77), 1);
        return header;
    }

    private static byte[] Metadata(ulong sectors, uint type)
    {
        var marker = new byte[512];
        BinaryPrimitives.WriteUInt64LittleEndian(marker, sectors);
        BinaryPrimitives.WriteUInt32LittleEndian(marker.AsSpan(12), type);
        return marker;
    }

    private static void PadSector(MemoryStream output)
    {
        var padding = (int)((512 - (output.Position % 512)) % 512);
        output.Write(new byte[padding]);
    }
}
