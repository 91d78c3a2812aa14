namespace Engine.Backup.Containers.Tar;

/// <summary>
/// The 512-byte POSIX ustar header block. Numeric fields are zero-padded octal ending in NUL; a value that does not
/// fit its field is written as 0 and travels in a pax record instead (<see cref="FitsOctal"/> is the one test both
/// sides use). Owner and group names stay empty: the archive is numeric-only.
/// </summary>
internal static class UstarHeader
{
    public const int BlockSize = 512;

    /// <summary>Length of the name and link name fields.</summary>
    public const int NameFieldLength = 100;

    public const byte RegularFile = (byte)'0';
    public const byte HardLink = (byte)'1';
    public const byte Symlink = (byte)'2';
    public const byte CharacterDevice = (byte)'3';
    public const byte BlockDevice = (byte)'4';
    public const byte Directory = (byte)'5';
    public const byte Fifo = (byte)'6';
    public const byte PaxExtendedHeader = (byte)'x';

    /// <summary>Width of the uid, gid, mode and device fields (7 digits and a NUL).</summary>
    public const int ShortFieldLength = 8;

    /// <summary>Width of the size and mtime fields (11 digits and a NUL).</summary>
    public const int LongFieldLength = 12;

    private const int NameOffset = 0;
    private const int ModeOffset = 100;
    private const int UidOffset = 108;
    private const int GidOffset = 116;
    private const int SizeOffset = 124;
    private const int MtimeOffset = 136;
    private const int ChecksumOffset = 148;
    private const int TypeflagOffset = 156;
    private const int LinkNameOffset = 157;
    private const int MagicOffset = 257;
    private const int DevMajorOffset = 329;
    private const int DevMinorOffset = 337;

    /// <summary>Whether <paramref name="value"/> fits an octal field of <paramref name="fieldLength"/> bytes.</summary>
    public static bool FitsOctal(long value, int fieldLength) =>
        value >= 0 && value < 1L << (3 * (fieldLength - 1));

    /// <summary>Fills <paramref name="block"/> (512 bytes) with one header, checksum included.</summary>
    public static void Write(Span<byte> block, in UstarFields fields)
    {
        block = block[..BlockSize];
        block.Clear();
        CopyTruncated(fields.Name, block.Slice(NameOffset, NameFieldLength));
        WriteOctal(block.Slice(ModeOffset, ShortFieldLength), fields.Mode);
        WriteOctal(block.Slice(UidOffset, ShortFieldLength), fields.Uid);
        WriteOctal(block.Slice(GidOffset, ShortFieldLength), fields.Gid);
        WriteOctal(block.Slice(SizeOffset, LongFieldLength), fields.Size);
        WriteOctal(block.Slice(MtimeOffset, LongFieldLength), fields.ModificationTime);
        block[TypeflagOffset] = fields.TypeFlag;
        CopyTruncated(fields.LinkName, block.Slice(LinkNameOffset, NameFieldLength));
        "ustar\000"u8.CopyTo(block[MagicOffset..]);
        WriteOctal(block.Slice(DevMajorOffset, ShortFieldLength), fields.DeviceMajor);
        WriteOctal(block.Slice(DevMinorOffset, ShortFieldLength), fields.DeviceMinor);

        // The checksum is summed with its own field read as spaces, then stored as six digits, NUL, space.
        var checksum = block.Slice(ChecksumOffset, ShortFieldLength);
        checksum.Fill((byte)' ');
        var sum = 0;
        foreach (var b in block)
        {
            sum += b;
        }

        WriteOctal(checksum[..7], sum);
    }

    private static void CopyTruncated(ReadOnlySpan<byte> value, Span<byte> field) =>
        value[..Math.Min(value.Length, field.Length)].CopyTo(field);

    /// <summary>Zero-padded octal filling all but the last byte, which stays NUL; 0 when the value does not fit.</summary>
    private static void WriteOctal(Span<byte> field, long value)
    {
        if (!FitsOctal(value, field.Length))
        {
            value = 0;
        }

        for (var i = field.Length - 2; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }

        field[^1] = 0;
    }
}
