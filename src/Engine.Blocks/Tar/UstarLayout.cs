namespace Engine.Blocks.Tar;

/// <summary>
/// Where each field of the 512-byte POSIX ustar header block lies (offset and length), plus the GNU fields the OVA
/// reader needs, and the type flags. The one description of the layout: the OVA tar reader and the container tar
/// writer both index the block through these names.
/// </summary>
internal static class UstarLayout
{
    /// <summary>Size of a header block and of the unit member data is padded to.</summary>
    public const int BlockSize = 512;

    /// <summary>Member name (NUL-terminated unless it fills the field).</summary>
    public const int NameOffset = 0;

    /// <summary>Length of the name and link name fields.</summary>
    public const int NameLength = 100;

    /// <summary>Permission bits, octal.</summary>
    public const int ModeOffset = 100;

    /// <summary>Owner's numeric id, octal.</summary>
    public const int UidOffset = 108;

    /// <summary>Group's numeric id, octal.</summary>
    public const int GidOffset = 116;

    /// <summary>Width of the mode, uid, gid, checksum and device fields (7 digits and a NUL).</summary>
    public const int ShortFieldLength = 8;

    /// <summary>Member data size in bytes, octal or GNU base-256.</summary>
    public const int SizeOffset = 124;

    /// <summary>Modification time in seconds since the epoch, octal.</summary>
    public const int MtimeOffset = 136;

    /// <summary>Width of the size and mtime fields (11 digits and a NUL).</summary>
    public const int LongFieldLength = 12;

    /// <summary>Header checksum (see <see cref="UstarChecksum"/>).</summary>
    public const int ChecksumOffset = 148;

    /// <summary>Length of the checksum field.</summary>
    public const int ChecksumLength = ShortFieldLength;

    /// <summary>One byte: the member type (<see cref="RegularFile"/>, <see cref="Directory"/>...).</summary>
    public const int TypeFlagOffset = 156;

    /// <summary>Target of a hard or symbolic link.</summary>
    public const int LinkNameOffset = 157;

    /// <summary>"ustar\0" (POSIX) or "ustar  \0" (GNU, with the version field).</summary>
    public const int MagicOffset = 257;

    /// <summary>Length of the POSIX magic, <see cref="PosixMagic"/>.</summary>
    public const int MagicLength = 6;

    /// <summary>Device major number, octal.</summary>
    public const int DevMajorOffset = 329;

    /// <summary>Device minor number, octal.</summary>
    public const int DevMinorOffset = 337;

    /// <summary>POSIX ustar only: the directory part of a long name, joined to the name with '/'.</summary>
    public const int PrefixOffset = 345;

    /// <summary>Length of the prefix field.</summary>
    public const int PrefixLength = 155;

    /// <summary>Old GNU sparse ('S'): the first of four (offset, length) pairs of 12-byte numbers.</summary>
    public const int GnuSparseOffset = 386;

    /// <summary>Old GNU sparse: pairs in the header block.</summary>
    public const int GnuSparseHeaderPairs = 4;

    /// <summary>Old GNU sparse: one byte, non-zero when extension blocks with more pairs follow the header.</summary>
    public const int GnuIsExtendedOffset = 482;

    /// <summary>Old GNU sparse: the member's real (logical) size, 12 bytes.</summary>
    public const int GnuRealSizeOffset = 483;

    /// <summary>Old GNU sparse extension block: pairs in it, from offset 0.</summary>
    public const int GnuExtensionPairs = 21;

    /// <summary>Old GNU sparse extension block: its own "more blocks follow" flag.</summary>
    public const int GnuExtensionIsExtendedOffset = 504;

    /// <summary>Length of one old GNU sparse (offset, length) pair.</summary>
    public const int GnuSparsePairLength = 2 * LongFieldLength;

    /// <summary>Regular file ('0'; old archives also use NUL and '7').</summary>
    public const byte RegularFile = (byte)'0';

    /// <summary>Hard link.</summary>
    public const byte HardLink = (byte)'1';

    /// <summary>Symbolic link.</summary>
    public const byte Symlink = (byte)'2';

    /// <summary>Character device.</summary>
    public const byte CharacterDevice = (byte)'3';

    /// <summary>Block device.</summary>
    public const byte BlockDevice = (byte)'4';

    /// <summary>Directory.</summary>
    public const byte Directory = (byte)'5';

    /// <summary>FIFO.</summary>
    public const byte Fifo = (byte)'6';

    /// <summary>Contiguous file, read as a regular file.</summary>
    public const byte ContiguousFile = (byte)'7';

    /// <summary>pax extended header for the next member.</summary>
    public const byte PaxExtendedHeader = (byte)'x';

    /// <summary>pax global header.</summary>
    public const byte PaxGlobalHeader = (byte)'g';

    /// <summary>GNU long name for the next member.</summary>
    public const byte GnuLongName = (byte)'L';

    /// <summary>GNU long link name for the next member.</summary>
    public const byte GnuLongLink = (byte)'K';

    /// <summary>Old GNU sparse file.</summary>
    public const byte GnuSparse = (byte)'S';

    /// <summary>The POSIX magic with its NUL: only such headers have a <see cref="PrefixOffset"/> field.</summary>
    public static ReadOnlySpan<byte> PosixMagic => "ustar\0"u8;

    /// <summary>The POSIX magic and version "00", as a writer stores them (8 bytes: C# has no octal escapes, so "\0" then "00").</summary>
    public static ReadOnlySpan<byte> PosixMagicAndVersion => "ustar\000"u8;
}
