using System.IO.Compression;
using Engine.Blocks.Buffers;
using Engine.Qcow2.Format;
using ZstdSharp;
using ZstdMethods = ZstdSharp.Unsafe.Methods;

namespace Engine.Qcow2.Reading;

/// <summary>
/// Inflates compressed clusters (raw deflate or a zstd frame) into exactly one cluster, and keeps the last one
/// inflated, since a client reading in pieces smaller than a cluster asks for the same cluster again.
/// </summary>
/// <remarks>
/// Output that would go past one cluster is an error (as qemu's zstd path treats it), and so is output that stops
/// short: memory stays one cluster whatever the stream claims.
/// </remarks>
internal sealed class CompressedClusters
{
    private readonly Qcow2Image _image;
    private readonly Lock _lock = new();
    private readonly byte[] _last;
    private ulong _lastEntry;
    private bool _hasLast;

    public CompressedClusters(Qcow2Image image)
    {
        _image = image;
        _last = new byte[image.Layout.ClusterSize];
    }

    /// <summary>Copies bytes <c>[offsetInCluster, +destination.Length)</c> of the compressed cluster that L2 entry <paramref name="entry"/> describes.</summary>
    /// <exception cref="Qcow2FormatException">The compressed data lies past the end of the file or does not inflate to exactly one cluster.</exception>
    public void Read(ulong entry, int offsetInCluster, Span<byte> destination)
    {
        lock (_lock)
        {
            if (_hasLast && _lastEntry == entry)
            {
                _last.AsSpan(offsetInCluster, destination.Length).CopyTo(destination);
                return;
            }
        }

        var clusterSize = _image.Layout.ClusterSize;
        using var cluster = BufferPool.Shared.Rent(clusterSize);
        Inflate(entry, cluster.Span);
        cluster.Span.Slice(offsetInCluster, destination.Length).CopyTo(destination);
        lock (_lock)
        {
            cluster.Span.CopyTo(_last);
            _lastEntry = entry;
            _hasLast = true;
        }
    }

    private void Inflate(ulong entry, Span<byte> cluster)
    {
        var descriptor = CompressedClusterDescriptor.Decode(entry, _image.Layout.ClusterBits);
        var at = (long)descriptor.HostOffset;
        var file = _image.File;
        if (at >= file.Length)
        {
            throw new Qcow2FormatException(file.Path, at, "compressed cluster data lies past the end of the file");
        }

        var length = (int)Math.Min((long)descriptor.MaxCompressedLength, file.Length - at);
        using var compressed = BufferPool.Shared.Rent(length);
        file.ReadMetadata(at, compressed.Span, "compressed cluster data");
        var produced = _image.Header.CompressionType == Qcow2CompressionType.Zstd
            ? InflateZstd(compressed, cluster, at)
            : InflateDeflate(compressed, cluster, at);
        if (produced != cluster.Length)
        {
            throw new Qcow2FormatException(file.Path, at,
                $"compressed cluster inflates to {produced} bytes, not the cluster size {cluster.Length}");
        }
    }

    private unsafe int InflateDeflate(NativeBuffer compressed, Span<byte> cluster, long at)
    {
        try
        {
            using var pin = compressed.Pin();
            using var input = new UnmanagedMemoryStream((byte*)pin.Pointer, compressed.Length);
            using var inflater = new DeflateStream(input, CompressionMode.Decompress);
            var produced = inflater.ReadAtLeast(cluster, cluster.Length, throwOnEndOfStream: false);
            Span<byte> probe = stackalloc byte[1];
            if (produced == cluster.Length && inflater.Read(probe) != 0)
            {
                throw new Qcow2FormatException(_image.Path, at, $"compressed cluster inflates past the cluster size {cluster.Length}");
            }

            return produced;
        }
        catch (InvalidDataException ex)
        {
            throw new Qcow2FormatException(_image.Path, at, "compressed cluster is not valid deflate data", ex);
        }
    }

    private unsafe int InflateZstd(NativeBuffer compressed, Span<byte> cluster, long at)
    {
        nuint frame;
        fixed (byte* source = compressed.Span)
        {
            frame = ZstdMethods.ZSTD_findFrameCompressedSize(source, (nuint)compressed.Length);
        }

        if (ZstdMethods.ZSTD_isError(frame))
        {
            throw new Qcow2FormatException(_image.Path, at, "compressed cluster is not a complete zstd frame");
        }

        try
        {
            using var decompressor = new Decompressor();
            return decompressor.Unwrap(compressed.Span[..(int)frame], cluster);
        }
        catch (ZstdException ex)
        {
            throw new Qcow2FormatException(_image.Path, at, $"compressed cluster does not inflate to one cluster ({ex.Message})", ex);
        }
    }
}
