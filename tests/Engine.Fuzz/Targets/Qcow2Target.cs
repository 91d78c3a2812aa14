using Engine.Blocks;
using Engine.Fuzz.Support;
using Engine.Qcow2.Format;
using Engine.Qcow2.Reading;

namespace Engine.Fuzz.Targets;

/// <summary>
/// qcow2: the Format parsers straight on the bytes (header, header extensions, feature names, bitmaps extension and
/// directory), then the whole reader over the bytes as a file: opened (a backing name may point back at the file
/// itself), read in pieces, its extents and allocation depth walked.
/// </summary>
internal sealed class Qcow2Target : IFuzzTarget
{
    /// <summary>Small limits, so that one run stays within a few MiB whatever sizes the input claims.</summary>
    private static readonly Qcow2ReaderOptions Options = new() { L2CacheBytes = 256 << 10, MaxChainLength = 4 };

    private static readonly byte[] Buffer = new byte[64 << 10];

    public string Name => "qcow2";

    public string Description => "qcow2: header, extensions, bitmap directory, L1/L2 tables, compressed clusters, backing chain";

    public void Run(ReadOnlySpan<byte> input)
    {
        ParseFormat(input);
        var path = Scratch.Write("fuzz.qcow2", input);
        try
        {
            ReadDevice(path).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is Qcow2FormatException or IOException or UnauthorizedAccessException)
        {
            // Refused: a hostile image (Qcow2FormatException), EIO while reading one (BlockDeviceException), or a
            // backing file name that names nothing readable (FileNotFoundException, UnauthorizedAccessException).
        }
    }

    private static void ParseFormat(ReadOnlySpan<byte> input)
    {
        try
        {
            var header = Qcow2Header.Parse(input);
            var end = (int)Math.Min(input.Length, header.BackingFileOffset is > 0 and var offset && offset < (ulong)header.ClusterSize ? (long)offset : header.ClusterSize);
            if (end < header.EncodedLength)
            {
                return;
            }

            foreach (var extension in Qcow2HeaderExtension.ParseArea(input[header.EncodedLength..end], header.EncodedLength))
            {
                switch (extension.Type)
                {
                    case Qcow2HeaderExtensionType.FeatureNameTable:
                        _ = Qcow2FeatureName.ParseTable(extension.Data.Span);
                        break;
                    case Qcow2HeaderExtensionType.Bitmaps:
                        var bitmaps = Qcow2BitmapsExtension.Parse(extension.Data.Span);
                        if (bitmaps.DirectoryOffset < (ulong)input.Length && bitmaps.DirectorySize <= (ulong)input.Length - bitmaps.DirectoryOffset)
                        {
                            _ = BitmapDirectoryEntry.ParseDirectory(input.Slice((int)bitmaps.DirectoryOffset, (int)bitmaps.DirectorySize), bitmaps.BitmapCount);
                        }

                        break;
                    default:
                        _ = extension.DataAsString();
                        break;
                }
            }
        }
        catch (Qcow2FormatException)
        {
        }
    }

    private static async ValueTask ReadDevice(string path)
    {
        await using var device = Qcow2BlockDevice.Open(path, Options);
        var size = device.Size;
        for (var offset = 0L; offset < Math.Min(size, 1 << 20); offset += Buffer.Length)
        {
            await device.ReadAsync(offset, Buffer.AsMemory(0, (int)Math.Min(Buffer.Length, size - offset)));
        }

        if (size > 0)
        {
            var tail = (int)Math.Min(Buffer.Length, size);
            await device.ReadAsync(size - tail, Buffer.AsMemory(0, tail));
            var extents = new ExtentList();
            var length = Math.Min(size, 64L << 20);
            await device.GetExtentsAsync(0, length, extents);
            extents.Clear();
            await device.GetAllocationDepthAsync(0, length, extents);
        }
    }
}
