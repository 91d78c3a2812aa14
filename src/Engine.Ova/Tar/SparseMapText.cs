namespace Engine.Ova.Tar;

/// <summary>
/// The decimal lines of a GNU sparse 1.0 map, fed one tar block at a time (a number may continue in the next block).
/// Only digits and newlines are accepted, and at most 18 digits per number.
/// </summary>
internal sealed class SparseMapText(Func<string, OvaFormatException> describe)
{
    private const int MaxDigits = 18;

    private readonly byte[] _digits = new byte[MaxDigits];
    private byte[] _block = [];
    private int _next;
    private int _count;

    /// <summary>Makes the next block the one numbers are read from.</summary>
    public void Feed(byte[] block)
    {
        _block = block;
        _next = 0;
    }

    /// <summary>The next complete number; false when the block ends first (feed the next one).</summary>
    public bool TryNext(out long number)
    {
        while (_next < _block.Length)
        {
            var b = _block[_next++];
            if (b == (byte)'\n')
            {
                if (!TarReader.TryParseDecimal(_digits.AsSpan(0, _count), out number))
                {
                    throw describe("empty line in the GNU sparse 1.0 map");
                }

                _count = 0;
                return true;
            }

            if (b is < (byte)'0' or > (byte)'9' || _count == MaxDigits)
            {
                throw describe($"the GNU sparse 1.0 map is not decimal numbers, one per line (byte 0x{b:x2})");
            }

            _digits[_count++] = b;
        }

        number = 0;
        return false;
    }
}
