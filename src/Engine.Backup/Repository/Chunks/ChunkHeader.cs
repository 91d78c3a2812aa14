using System.Buffers.Binary;
using System.IO.Hashing;

namespace Engine.Backup.Repository.Chunks;

/// <summary>
/// The fixed 40-byte header in front of every chunk file's payload (little endian):
/// <code>
///  0  magic "ENGCHUNK"
///  8  u16 version (1)
/// 10  u8  encoding (0 raw, 1 zstd)
/// 11  u8  reserved (0)
/// 12  u32 uncompressed length
/// 16  u32 stored (payload) length
/// 20  u32 reserved (0)
/// 24  u64 XxHash3 of the stored payload
/// 32  u64 XxHash3 of bytes 0..32 (the header checksum)
/// </code>
/// The payload checksum lets a quick verify (and every read) find damage without rehashing with SHA-256.
/// </summary>
internal readonly record struct ChunkHeader(ChunkEncoding Encoding, int UncompressedLength, int StoredLength, ulong PayloadChecksum)
{
    public const int Size = 40;
    public const ushort Version = 1;

    private static ReadOnlySpan<byte> Magic => "ENGCHUNK"u8;

    /// <summary>File length this header promises.</summary>
    public long FileLength => Size + (long)StoredLength;

    public void Write(Span<byte> destination)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], Version);
        destination[10] = (byte)Encoding;
        destination[11] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(destination[12..], UncompressedLength);
        BinaryPrimitives.WriteInt32LittleEndian(destination[16..], StoredLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[20..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], PayloadChecksum);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[32..], XxHash3.HashToUInt64(destination[..32]));
    }

    /// <summary>Parses and checks a header; false when anything about it is wrong.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ChunkHeader header)
    {
        header = default;
        if (source.Length < Size || !source[..8].SequenceEqual(Magic) ||
            BinaryPrimitives.ReadUInt64LittleEndian(source[32..]) != XxHash3.HashToUInt64(source[..32]) ||
            BinaryPrimitives.ReadUInt16LittleEndian(source[8..]) != Version)
        {
            return false;
        }

        var encoding = (ChunkEncoding)source[10];
        var uncompressed = BinaryPrimitives.ReadInt32LittleEndian(source[12..]);
        var stored = BinaryPrimitives.ReadInt32LittleEndian(source[16..]);
        if (encoding is not (ChunkEncoding.Raw or ChunkEncoding.Zstd) || uncompressed < 0 || stored < 0 ||
            (encoding == ChunkEncoding.Raw && stored != uncompressed))
        {
            return false;
        }

        header = new ChunkHeader(encoding, uncompressed, stored, BinaryPrimitives.ReadUInt64LittleEndian(source[24..]));
        return true;
    }
}

/// <summary>How a chunk's payload is stored.</summary>
internal enum ChunkEncoding : byte
{
    Raw = 0,
    Zstd = 1,
}
