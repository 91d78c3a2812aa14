namespace Engine.Backup.Repository.Formats;

/// <summary>
/// The binary catalog of a container archive, <c>archive.catalog</c> beside the snapshot's manifest (little endian):
/// <code>
/// header     "ENGCTCAT", u32 version (2; 1 is read too), u32 reserved (0)
/// entry      u8 tag (1), u8 kind, u32 mode, i64 uid, i64 gid, i64 mtime ns, i64 size, i32 major, i32 minor,
///            [version 2: i64 ctime ns, u64 inode, u64 device]
///            str path, str? link target,
///            u32 xattr count × (str name, bytes value),
///            i32 extent count (-1: dense) × (i64 offset, i64 length),
///            i64 data start (regular files: where the file's data begins in the data stream; else 0)
/// end        u8 tag (0), u64 entries, u64 regular files, u64 data stream length (the chunks' total),
///            u64 chunk count × (u32 length, 32-byte SHA-256, or 32 zero bytes for an all-zero chunk)
/// trailer    u64 XxHash3 of everything before
/// str        u32 byte length + UTF-8; str? uses length 0xFFFFFFFF for null; bytes: u32 length + raw
/// </code>
/// The data stream is every regular file's data extents (holes left out) back to back in archive order; the chunk
/// list cuts it. Small files so share chunks (tens of thousands of small files make hundreds of chunk files, not tens
/// of thousands), while a file of at least the maximum chunk size starts and ends on chunk boundaries of its own, so a
/// large file dedups whole against any other backup holding it.
/// <para>
/// Version 1 lays the files' data back to back: each data start is where the previous file's data ended, and the
/// stream ends with the last file. Version 2 records each entry's identity (<see cref="Containers.FileIdentity"/>),
/// so the next backup can take an unchanged file's chunks without reading it, and so allows gaps: a data start may lie
/// beyond the previous file's end (never before it), and the stream may run past the last file. A gap is bytes of a
/// reused chunk that belonged to a changed neighbour in the backup the chunk came from; nothing refers to them.
/// </para>
/// <para>
/// The catalog is a file of its own rather than chunks because it is written once, read whole, and garbage
/// collection reads it for every snapshot: one sequential checksummed file is the cheapest to parse. It is written
/// into the snapshot's directory before the manifest, so the manifest's atomic rename commits both; the manifest
/// records its checksum.
/// </para>
/// </summary>
internal static class CatalogFormat
{
    /// <summary>The version written: identities recorded, gaps in the data stream allowed.</summary>
    public const uint Version = 2;

    /// <summary>The first version, still read: no identities, files back to back.</summary>
    public const uint VersionBackToBack = 1;
    public const string FileName = "archive.catalog";
    public const byte EntryTag = 1;
    public const byte EndTag = 0;
    public const int HeaderSize = 16;
    public const uint NullString = uint.MaxValue;

    public static ReadOnlySpan<byte> Magic => "ENGCTCAT"u8;
}
