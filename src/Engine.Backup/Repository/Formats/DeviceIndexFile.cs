using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Repository.Formats;

/// <summary>
/// The binary <c>&lt;device&gt;.index</c> file (little endian):
/// <code>
///  0  magic "ENGINDEX"
///  8  u32 version (2; 1 is still read)
/// 12  u32 reserved (0)
/// 16  u64 device size
/// 24  u32 chunk size
/// 28  u32 chunk count
/// 32  chunk count × 32-byte digests
///  …  chunk count × u64 payload checksums (version 2 only; 0 for a zero chunk)
///  …  u64 XxHash3 of everything before
/// </code>
/// A payload checksum is the XxHash3 the chunk file's header carried when the index was written: comparing it with
/// the header on every read costs 8 bytes and proves the file is still that chunk.
/// </summary>
internal static class DeviceIndexFile
{
    public const uint Version = 2;
    private const uint VersionWithoutChecksums = 1;
    private const int HeaderSize = 32;

    private static ReadOnlySpan<byte> Magic => "ENGINDEX"u8;

    /// <summary>Writes the index to <paramref name="path"/>; returns the checksum (16 hex digits) the manifest records.</summary>
    public static string Write(string path, long size, int chunkSize, ReadOnlySpan<ChunkDigest> digests, ReadOnlySpan<ulong> payloadChecksums)
    {
        if (payloadChecksums.Length != digests.Length)
        {
            throw new ArgumentException($"{digests.Length} digests but {payloadChecksums.Length} payload checksums", nameof(payloadChecksums));
        }

        var length = HeaderSize + ((long)digests.Length * EntrySize(Version)) + sizeof(ulong);
        var bytes = new byte[length];
        var span = bytes.AsSpan();
        Magic.CopyTo(span);
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], size);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], chunkSize);
        BinaryPrimitives.WriteInt32LittleEndian(span[28..], digests.Length);
        MemoryMarshal.AsBytes(digests).CopyTo(span[HeaderSize..]);
        var checksums = span[(HeaderSize + (digests.Length * ChunkDigest.Length))..];
        for (var i = 0; i < payloadChecksums.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(checksums[(i * sizeof(ulong))..], payloadChecksums[i]);
        }

        var checksum = XxHash3.HashToUInt64(span[..^sizeof(ulong)]);
        BinaryPrimitives.WriteUInt64LittleEndian(span[^sizeof(ulong)..], checksum);
        RepositoryFiles.WriteNew(path, bytes);
        return FormatChecksum(checksum);
    }

    /// <summary>Reads and checks an index file against its own trailer and the manifest's checksum.</summary>
    /// <exception cref="RepositoryCorruptException">Truncated, wrong magic or version, inconsistent or checksum mismatch.</exception>
    public static DeviceIndex Read(string path, string device, string? expectedChecksum)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw new RepositoryCorruptException(path, $"index of device {device} is missing: {path}", e);
        }

        var span = bytes.AsSpan();
        if (span.Length < HeaderSize + sizeof(ulong) || !span[..8].SequenceEqual(Magic))
        {
            throw Corrupt(path, "not an Engine index file or truncated");
        }

        var checksum = BinaryPrimitives.ReadUInt64LittleEndian(span[^sizeof(ulong)..]);
        if (XxHash3.HashToUInt64(span[..^sizeof(ulong)]) != checksum)
        {
            throw Corrupt(path, "checksum mismatch (truncated or damaged)");
        }

        if (expectedChecksum is not null && !string.Equals(FormatChecksum(checksum), expectedChecksum, StringComparison.OrdinalIgnoreCase))
        {
            throw Corrupt(path, $"checksum {FormatChecksum(checksum)} differs from the manifest's {expectedChecksum}");
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(span[8..]);
        var size = BinaryPrimitives.ReadInt64LittleEndian(span[16..]);
        var chunkSize = BinaryPrimitives.ReadInt32LittleEndian(span[24..]);
        var count = BinaryPrimitives.ReadInt32LittleEndian(span[28..]);
        if (version is not (Version or VersionWithoutChecksums) || size < 0 || chunkSize <= 0 || count < 0 ||
            span.Length != HeaderSize + ((long)count * EntrySize(version)) + sizeof(ulong) ||
            count != (size + chunkSize - 1) / chunkSize)
        {
            throw Corrupt(path, $"inconsistent header (version {version}, size {size}, chunk size {chunkSize}, {count} chunks, {span.Length} bytes)");
        }

        var digests = MemoryMarshal.Cast<byte, ChunkDigest>(span.Slice(HeaderSize, count * ChunkDigest.Length)).ToArray();
        ulong[]? payloadChecksums = null;
        if (version == Version)
        {
            payloadChecksums = new ulong[count];
            var checksums = span[(HeaderSize + (count * ChunkDigest.Length))..];
            for (var i = 0; i < count; i++)
            {
                payloadChecksums[i] = BinaryPrimitives.ReadUInt64LittleEndian(checksums[(i * sizeof(ulong))..]);
            }
        }

        return new DeviceIndex(device, size, chunkSize, digests, payloadChecksums);
    }

    private static int EntrySize(uint version) => version == VersionWithoutChecksums ? ChunkDigest.Length : ChunkDigest.Length + sizeof(ulong);

    public static string FormatChecksum(ulong checksum) => checksum.ToString("x16", CultureInfo.InvariantCulture);

    private static RepositoryCorruptException Corrupt(string path, string reason) =>
        new(path, $"bad index {path}: {reason}");
}
