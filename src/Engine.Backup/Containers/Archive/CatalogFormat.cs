namespace Engine.Backup.Containers.Archive;

/// <summary>
/// The binary catalog of a container archive, <c>archive.catalog</c> beside the snapshot's manifest (little endian):
/// <code>
/// header     "ENGCTCAT", u32 version (1), u32 reserved (0)
/// entry      u8 tag (1), u8 kind, u32 mode, i64 uid, i64 gid, i64 mtime ns, i64 size, i32 major, i32 minor,
///            str path, str? link target,
///            u32 xattr count × (str name, bytes value),
///            i32 extent count (-1: dense) × (i64 offset, i64 length),
///            u32 chunk count × (u32 length, 32-byte SHA-256)
/// end        u8 tag (0), u64 entries, u64 regular files, u64 chunk references
/// trailer    u64 XxHash3 of everything before
/// str        u32 byte length + UTF-8; str? uses length 0xFFFFFFFF for null; bytes: u32 length + raw
/// </code>
/// A file's chunks hold its data extents back to back (holes are not stored). The catalog is a file of its own rather
/// than chunks because it is written once, read whole, and garbage collection must read it for every snapshot: one
/// sequential file is the cheapest thing to parse and to checksum. It is written into the snapshot's directory before
/// the manifest, so the manifest's atomic rename commits both; the manifest records its checksum.
/// </summary>
internal static class CatalogFormat
{
    public const uint Version = 1;
    public const string FileName = "archive.catalog";
    public const byte EntryTag = 1;
    public const byte EndTag = 0;
    public const int HeaderSize = 16;
    public const uint NullString = uint.MaxValue;

    public static ReadOnlySpan<byte> Magic => "ENGCTCAT"u8;
}
