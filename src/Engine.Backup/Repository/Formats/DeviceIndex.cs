using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Repository.Formats;

/// <summary>
/// The ordered chunk digests of one backed-up device: chunk <c>i</c> covers bytes
/// <c>[i × ChunkSize, min((i + 1) × ChunkSize, Size))</c>. <see cref="ChunkDigest.Zero"/> marks an all-zero chunk.
/// Next to each digest the index keeps the payload checksum of the chunk file it was recorded with, so that every
/// read can tell cheaply whether the file is still that chunk (<see cref="ChunkStore.Read(ChunkDigest, ulong, Span{byte})"/>).
/// </summary>
internal sealed class DeviceIndex
{
    private readonly ChunkDigest[] _digests;
    private readonly ulong[]? _payloadChecksums;

    /// <summary>
    /// Creates an index; <paramref name="digests"/> must hold exactly one digest per chunk, and
    /// <paramref name="payloadChecksums"/> (null: unknown, as in a format 1 index) one checksum per chunk.
    /// </summary>
    /// <exception cref="ArgumentException">The digest or checksum count does not match size and chunk size.</exception>
    public DeviceIndex(string device, long size, int chunkSize, ChunkDigest[] digests, ulong[]? payloadChecksums = null)
    {
        ArgumentNullException.ThrowIfNull(digests);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        var expected = ChunkCountOf(size, chunkSize);
        if (digests.Length != expected)
        {
            throw new ArgumentException($"device {device}: {size} bytes in chunks of {chunkSize} need {expected} digests, got {digests.Length}", nameof(digests));
        }

        if (payloadChecksums is not null && payloadChecksums.Length != digests.Length)
        {
            throw new ArgumentException($"device {device}: {digests.Length} digests but {payloadChecksums.Length} payload checksums", nameof(payloadChecksums));
        }

        _payloadChecksums = payloadChecksums;
        Device = device;
        Size = size;
        ChunkSize = chunkSize;
        _digests = digests;
    }

    /// <summary>The device's name.</summary>
    public string Device { get; }

    /// <summary>The device's size in bytes.</summary>
    public long Size { get; }

    /// <summary>Bytes per chunk (the last may be shorter).</summary>
    public int ChunkSize { get; }

    /// <summary>Number of chunks.</summary>
    public int ChunkCount => _digests.Length;

    /// <summary>The digest of chunk <paramref name="chunk"/>.</summary>
    public ChunkDigest this[int chunk] => _digests[chunk];

    /// <summary>All digests in device order.</summary>
    public ReadOnlySpan<ChunkDigest> Digests => _digests;

    /// <summary>
    /// The payload checksum chunk <paramref name="chunk"/>'s file had when the index was written, or
    /// <see cref="ChunkStore.UnknownPayloadChecksum"/> (a zero chunk, or a format 1 index).
    /// </summary>
    public ulong PayloadChecksum(int chunk) => _payloadChecksums is null ? ChunkStore.UnknownPayloadChecksum : _payloadChecksums[chunk];

    /// <summary>Length of chunk <paramref name="chunk"/> (the last one may be short).</summary>
    public int ChunkLength(int chunk) => (int)Math.Min(ChunkSize, Size - ((long)chunk * ChunkSize));

    /// <summary>Chunks needed to cover <paramref name="size"/> bytes.</summary>
    /// <exception cref="ArgumentException">More than <see cref="int.MaxValue"/> chunks.</exception>
    public static int ChunkCountOf(long size, int chunkSize)
    {
        var count = (size + chunkSize - 1) / chunkSize;
        return count <= int.MaxValue ? (int)count : throw new ArgumentException($"{size} bytes in chunks of {chunkSize} is too many chunks");
    }
}
