using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Engine.Blocks.Buffers;

namespace Engine.Backup.Repository.Chunks;

/// <summary>
/// The one format of a stored chunk, whatever holds it (a file of <see cref="ChunkStore"/>, an object of an object
/// store): a <see cref="ChunkHeader"/> and the raw or zstd payload it describes, checked by the header's XxHash3.
/// Encoding and the checks live here so that every store writes the same bytes and reports damage alike
/// (<see cref="ChunkCheck"/>); where the bytes come from is the store's business.
/// </summary>
internal static class ChunkFile
{
    /// <summary>The largest chunk (uncompressed, and stored payload) a store accepts.</summary>
    public const int MaxChunkLength = 32 << 20;

    /// <summary>The most bytes a well-formed stored chunk can take: a read of this many holds any chunk whole.</summary>
    public const int MaxStoredLength = ChunkHeader.Size + MaxChunkLength;

    /// <summary>Room <see cref="Encode"/> may need for <paramref name="dataLength"/> bytes of content.</summary>
    public static int EncodedBound(int dataLength) => ChunkHeader.Size + ChunkCodec.Bound(dataLength);

    /// <summary>
    /// Encodes <paramref name="data"/> (zstd at <paramref name="level"/>, or raw when it does not compress) behind its
    /// header into <paramref name="destination"/> (at least <see cref="EncodedBound"/> bytes); returns the stored length.
    /// </summary>
    public static int Encode(ReadOnlySpan<byte> data, Span<byte> destination, int level)
    {
        CheckLength(data.Length);
        var body = destination[ChunkHeader.Size..];
        var compressed = ChunkCodec.TryCompress(data, body, level);
        if (compressed < 0)
        {
            data.CopyTo(body);
        }

        return Seal(destination, data.Length, compressed);
    }

    /// <summary>
    /// <see cref="Encode"/> for content that already sits where a raw payload goes, behind room for the header:
    /// <paramref name="frame"/>[<see cref="ChunkHeader.Size"/>..][..<paramref name="dataLength"/>]. The stored chunk
    /// is <paramref name="frame"/>[..returned length]: raw content is not copied at all (a backup receives the chunk
    /// there straight from the source), compressed content replaces it.
    /// </summary>
    public static int EncodeInFrame(Span<byte> frame, int dataLength, int level)
    {
        CheckLength(dataLength);
        var data = frame.Slice(ChunkHeader.Size, dataLength);
        int compressed;
        using (var scratch = BufferPool.Shared.Rent(ChunkCodec.Bound(dataLength)))
        {
            compressed = ChunkCodec.TryCompress(data, scratch.Span, level);
            if (compressed >= 0)
            {
                scratch.Span[..compressed].CopyTo(data);
            }
        }

        return Seal(frame, dataLength, compressed);
    }

    private static void CheckLength(int dataLength)
    {
        if (dataLength > MaxChunkLength)
        {
            throw new ArgumentException($"chunk of {dataLength} bytes exceeds {MaxChunkLength}", nameof(dataLength));
        }
    }

    /// <summary>Writes the header for the payload behind it (compressed bytes, or raw content when -1); returns the stored length.</summary>
    private static int Seal(Span<byte> destination, int dataLength, int compressed)
    {
        var payload = destination.Slice(ChunkHeader.Size, compressed < 0 ? dataLength : compressed);
        var header = new ChunkHeader(compressed < 0 ? ChunkEncoding.Raw : ChunkEncoding.Zstd, dataLength, payload.Length, XxHash3.HashToUInt64(payload));
        header.Write(destination);
        return (int)header.FileLength;
    }

    /// <summary>
    /// Parses the header at the start of <paramref name="bytes"/> (which may be shorter than a header: then
    /// <see cref="ChunkCheck.Truncated"/>); a header promising more than <see cref="MaxChunkLength"/> is bad.
    /// </summary>
    public static ChunkCheck ReadHeader(ReadOnlySpan<byte> bytes, out ChunkHeader header)
    {
        header = default;
        if (bytes.Length < ChunkHeader.Size)
        {
            return ChunkCheck.Truncated;
        }

        return ChunkHeader.TryRead(bytes, out header) && header.UncompressedLength <= MaxChunkLength && header.StoredLength <= MaxChunkLength
            ? ChunkCheck.Ok
            : ChunkCheck.BadHeader;
    }

    /// <summary>Throws unless <paramref name="destination"/> holds the chunk <paramref name="header"/> describes.</summary>
    /// <exception cref="ArgumentException">The destination is smaller than the chunk.</exception>
    public static void EnsureFits(in ChunkHeader header, Span<byte> destination)
    {
        if (destination.Length < header.UncompressedLength)
        {
            throw new ArgumentException($"destination of {destination.Length} bytes is smaller than the chunk ({header.UncompressedLength})", nameof(destination));
        }
    }

    /// <summary>Checks a payload (exactly <see cref="ChunkHeader.StoredLength"/> bytes) against the header's checksum.</summary>
    public static ChunkCheck CheckPayload(in ChunkHeader header, ReadOnlySpan<byte> payload) =>
        XxHash3.HashToUInt64(payload) == header.PayloadChecksum ? ChunkCheck.Ok : ChunkCheck.ChecksumMismatch;

    /// <summary>
    /// Checks a payload and decodes it into <paramref name="destination"/> (which <see cref="EnsureFits"/>); a raw
    /// payload already read into the start of the destination is not copied again.
    /// </summary>
    public static ChunkCheck DecodePayload(in ChunkHeader header, ReadOnlySpan<byte> payload, Span<byte> destination, out int length)
    {
        length = 0;
        var check = CheckPayload(header, payload);
        if (check != ChunkCheck.Ok)
        {
            return check;
        }

        if (header.Encoding == ChunkEncoding.Raw)
        {
            if (!Unsafe.AreSame(ref MemoryMarshal.GetReference(payload), ref MemoryMarshal.GetReference(destination)))
            {
                payload.CopyTo(destination);
            }

            length = header.UncompressedLength;
            return ChunkCheck.Ok;
        }

        length = ChunkCodec.TryDecompress(payload, destination[..header.UncompressedLength]);
        return length == header.UncompressedLength ? ChunkCheck.Ok : ChunkCheck.BadPayload;
    }

    /// <summary>
    /// Checks a whole stored chunk held in memory (bytes past the promised length are ignored) and decodes it into
    /// <paramref name="destination"/>; returns the content's length in <paramref name="length"/> and the header's
    /// payload checksum (0 when the header is unreadable) in <paramref name="payloadChecksum"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The destination is smaller than the chunk.</exception>
    public static ChunkCheck Decode(ReadOnlySpan<byte> stored, Span<byte> destination, out int length, out ulong payloadChecksum)
    {
        length = 0;
        var check = Payload(stored, out var header, out var payload, out payloadChecksum);
        if (check != ChunkCheck.Ok)
        {
            return check;
        }

        EnsureFits(header, destination);
        return DecodePayload(header, payload, destination, out length);
    }

    /// <summary>The quick check of a whole stored chunk in memory: header, length and payload checksum, no decoding.</summary>
    public static ChunkCheck Check(ReadOnlySpan<byte> stored, out ulong payloadChecksum)
    {
        var check = Payload(stored, out var header, out var payload, out payloadChecksum);
        return check != ChunkCheck.Ok ? check : CheckPayload(header, payload);
    }

    private static ChunkCheck Payload(ReadOnlySpan<byte> stored, out ChunkHeader header, out ReadOnlySpan<byte> payload, out ulong payloadChecksum)
    {
        payload = default;
        payloadChecksum = 0;
        var check = ReadHeader(stored, out header);
        if (check != ChunkCheck.Ok)
        {
            return check;
        }

        payloadChecksum = header.PayloadChecksum;
        if (stored.Length < header.FileLength)
        {
            return ChunkCheck.Truncated;
        }

        payload = stored.Slice(ChunkHeader.Size, header.StoredLength);
        return ChunkCheck.Ok;
    }
}
