namespace Engine.Blocks.Tar;

/// <summary>
/// The header checksum: the sum of the block's 512 bytes with the checksum field itself counted as eight spaces.
/// Writers store it as six octal digits, NUL, space; readers accept the unsigned sum and, for old archivers that
/// summed signed chars, the signed one.
/// </summary>
internal static class UstarChecksum
{
    /// <summary>The unsigned and the signed sum of <paramref name="block"/> (at least 512 bytes).</summary>
    public static (long Unsigned, long Signed) Compute(ReadOnlySpan<byte> block)
    {
        block = block[..UstarLayout.BlockSize];
        long unsigned = 0;
        long signed = 0;
        for (var i = 0; i < block.Length; i++)
        {
            var b = i is >= UstarLayout.ChecksumOffset and < UstarLayout.ChecksumOffset + UstarLayout.ChecksumLength ? (byte)' ' : block[i];
            unsigned += b;
            signed += (sbyte)b;
        }

        return (unsigned, signed);
    }

    /// <summary>Computes the checksum of <paramref name="block"/> (every other field filled) and stores it in its field.</summary>
    public static void Write(Span<byte> block)
    {
        var field = block.Slice(UstarLayout.ChecksumOffset, UstarLayout.ChecksumLength);
        field.Fill((byte)' ');
        var (sum, _) = Compute(block);
        UstarNumber.WriteOctal(field[..7], sum);
    }
}
