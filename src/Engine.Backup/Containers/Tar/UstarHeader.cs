using Engine.Blocks.Tar;

namespace Engine.Backup.Containers.Tar;

/// <summary>
/// Writes the 512-byte POSIX ustar header block laid out by <see cref="UstarLayout"/>. Numeric fields are zero-padded
/// octal ending in NUL; a value that does not fit its field is written as 0 and travels in a pax record instead
/// (<see cref="UstarNumber.FitsOctal"/> is the one test both sides use). Owner and group names stay empty: the
/// archive is numeric-only.
/// </summary>
internal static class UstarHeader
{
    /// <summary>Fills <paramref name="block"/> (512 bytes) with one header, checksum included.</summary>
    public static void Write(Span<byte> block, in UstarFields fields)
    {
        block = block[..UstarLayout.BlockSize];
        block.Clear();
        CopyTruncated(fields.Name, block.Slice(UstarLayout.NameOffset, UstarLayout.NameLength));
        UstarNumber.WriteOctal(block.Slice(UstarLayout.ModeOffset, UstarLayout.ShortFieldLength), fields.Mode);
        UstarNumber.WriteOctal(block.Slice(UstarLayout.UidOffset, UstarLayout.ShortFieldLength), fields.Uid);
        UstarNumber.WriteOctal(block.Slice(UstarLayout.GidOffset, UstarLayout.ShortFieldLength), fields.Gid);
        UstarNumber.WriteOctal(block.Slice(UstarLayout.SizeOffset, UstarLayout.LongFieldLength), fields.Size);
        UstarNumber.WriteOctal(block.Slice(UstarLayout.MtimeOffset, UstarLayout.LongFieldLength), fields.ModificationTime);
        block[UstarLayout.TypeFlagOffset] = fields.TypeFlag;
        CopyTruncated(fields.LinkName, block.Slice(UstarLayout.LinkNameOffset, UstarLayout.NameLength));
        UstarLayout.PosixMagicAndVersion.CopyTo(block[UstarLayout.MagicOffset..]);
        UstarNumber.WriteOctal(block.Slice(UstarLayout.DevMajorOffset, UstarLayout.ShortFieldLength), fields.DeviceMajor);
        UstarNumber.WriteOctal(block.Slice(UstarLayout.DevMinorOffset, UstarLayout.ShortFieldLength), fields.DeviceMinor);
        UstarChecksum.Write(block);
    }

    private static void CopyTruncated(ReadOnlySpan<byte> value, Span<byte> field) =>
        value[..Math.Min(value.Length, field.Length)].CopyTo(field);
}
