using ZstdSharp;

namespace Engine.Backup.Repository.Chunks;

/// <summary>
/// zstd contexts, one compressor and one decompressor per thread, reused for every chunk: creating a context costs
/// more than compressing a small chunk. A chunk that does not compress is stored raw; a cheap probe on its first
/// 64 KiB spots random data before the whole chunk is compressed for nothing.
/// </summary>
internal static class ChunkCodec
{
    private const int ProbeLength = 64 << 10;

    /// <summary>Stored payloads larger than this fraction of the input are not worth decompressing later.</summary>
    private const double MaxRatio = 0.95;

    [ThreadStatic]
    private static Compressor? _compressor;

    [ThreadStatic]
    private static int _level;

    [ThreadStatic]
    private static Decompressor? _decompressor;

    /// <summary>Room <see cref="TryCompress"/> may need for <paramref name="length"/> bytes.</summary>
    public static int Bound(int length) => Compressor.GetCompressBound(length);

    /// <summary>
    /// Compresses <paramref name="data"/> into <paramref name="destination"/> (at least <see cref="Bound"/> bytes);
    /// returns the compressed length, or -1 when the data should be stored raw.
    /// </summary>
    public static int TryCompress(ReadOnlySpan<byte> data, Span<byte> destination, int level)
    {
        var compressor = CompressorFor(level);
        var limit = (int)(data.Length * MaxRatio);
        if (data.Length > 2 * ProbeLength)
        {
            var probe = compressor.Wrap(data[..ProbeLength], destination);
            if (probe > ProbeLength * MaxRatio)
            {
                return -1;
            }
        }

        var written = compressor.Wrap(data, destination);
        return written > limit ? -1 : written;
    }

    /// <summary>Decompresses into <paramref name="destination"/>; returns the length, or -1 when the payload is not valid zstd or does not fit.</summary>
    public static int TryDecompress(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        _decompressor ??= new Decompressor();
        try
        {
            return _decompressor.TryUnwrap(payload, destination, out var written) ? written : -1;
        }
        catch (ZstdException)
        {
            return -1;
        }
    }

    private static Compressor CompressorFor(int level)
    {
        if (_compressor is null || _level != level)
        {
            _compressor?.Dispose();
            _compressor = new Compressor(level);
            _level = level;
        }

        return _compressor;
    }
}
