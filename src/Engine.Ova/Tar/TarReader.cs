using System.Buffers;
using System.Text;

namespace Engine.Ova.Tar;

/// <summary>
/// Reads a tar archive front to back from a file or a pipe: ustar, GNU (long names, base-256 numbers) and pax headers.
/// Memory stays bounded (one header block plus capped long names and pax records); member data is read by the
/// caller through <see cref="Read"/> straight into its own buffers, or skipped (by seeking when the source allows).
/// </summary>
/// <remarks>
/// Every read is checked against the source's end: a member whose size runs past the end of the archive ("lying
/// size") or a header cut short is an <see cref="OvaFormatException"/> naming the member and offset.
/// </remarks>
public sealed class TarReader : IDisposable
{
    /// <summary>Size of a tar block.</summary>
    public const int BlockSize = 512;

    /// <summary>Longest GNU long name or pax record block accepted.</summary>
    public const int MaxMetadataSize = 1 << 20;

    /// <summary>Most members accepted before the archive is considered hostile.</summary>
    public const int MaxEntries = 100_000;

    private readonly Stream _source;
    private readonly bool _leaveOpen;
    private readonly string _sourceName;
    private readonly byte[] _block = new byte[BlockSize];
    private readonly long _length;
    private long _position;
    private long _remaining;
    private long _padding;
    private int _entries;
    private bool _finished;
    private TarEntry? _current;

    /// <summary>Reads <paramref name="source"/> from its current position, which counts as offset 0 of the archive.</summary>
    /// <param name="source">The archive; seekable sources let skipped members be seeked over.</param>
    /// <param name="sourceName">Name used in error messages (a path, or "stdin").</param>
    /// <param name="leaveOpen">Keep <paramref name="source"/> open on dispose.</param>
    public TarReader(Stream source, string sourceName, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _sourceName = sourceName;
        _leaveOpen = leaveOpen;
        _length = source.CanSeek ? source.Length - source.Position : -1;
        _position = 0;
    }

    /// <summary>The member whose data <see cref="Read"/> returns, or null before the first and after the last.</summary>
    public TarEntry? Current => _current;

    /// <summary>Bytes of the current member's data not read yet.</summary>
    public long Remaining => _remaining;

    /// <summary>Bytes consumed from the source so far.</summary>
    public long Position => _position;

    /// <summary>The source's name, for messages.</summary>
    public string SourceName => _sourceName;

    /// <summary>Whether skipping is a seek rather than a read.</summary>
    public bool CanSeek => _length >= 0;

    /// <summary>Moves to the next member, skipping whatever is left of the current one; null at the end of the archive.</summary>
    /// <exception cref="OvaFormatException">A header is corrupt, truncated, or a size lies.</exception>
    public TarEntry? Next()
    {
        SkipRest();
        _current = null;
        if (_finished)
        {
            return null;
        }

        string? longName = null;
        string? longLink = null;
        string? paxPath = null;
        string? paxLink = null;
        long? paxSize = null;
        var paxSparse = false;
        var headerOffset = _position;
        while (true)
        {
            var blockOffset = _position;
            if (!ReadBlock(allowEnd: true))
            {
                // End of input exactly at a block boundary with no end-of-archive marker: GNU tar accepts that too.
                _finished = true;
                return null;
            }

            if (_block.AsSpan().IndexOfAnyExcept((byte)0) < 0)
            {
                // End-of-archive marker. The second zero block and any padding after it are not needed.
                _finished = true;
                return null;
            }

            if (++_entries > MaxEntries)
            {
                throw Error(blockOffset, $"more than {MaxEntries} members");
            }

            VerifyChecksum(blockOffset);
            var typeflag = (char)_block[156];
            var size = ParseNumber(_block.AsSpan(124, 12), blockOffset, "size");
            switch (typeflag)
            {
                case 'L':
                    longName = ReadMetadataString(size, blockOffset, "GNU long name");
                    continue;
                case 'K':
                    longLink = ReadMetadataString(size, blockOffset, "GNU long link name");
                    continue;
                case 'x':
                    ParsePax(ReadMetadata(size, blockOffset, "pax header"), blockOffset, ref paxPath, ref paxLink, ref paxSize, ref paxSparse);
                    continue;
                case 'g':
                    // Global pax records apply to later members; the keys that matter here (path, size) make no sense
                    // globally, so the block is read (bounded) and ignored.
                    ReadMetadata(size, blockOffset, "pax global header");
                    continue;
                default:
                    break;
            }

            var name = paxPath ?? longName ?? HeaderName();
            var linkName = paxLink ?? longLink ?? NullTerminated(_block.AsSpan(157, 100));
            var dataSize = paxSize ?? size;
            var type = typeflag switch
            {
                '0' or '\0' or '7' => paxSparse ? TarEntryType.SparseFile : TarEntryType.RegularFile,
                '1' => TarEntryType.HardLink,
                '2' => TarEntryType.SymbolicLink,
                '3' => TarEntryType.CharacterDevice,
                '4' => TarEntryType.BlockDevice,
                '5' => TarEntryType.Directory,
                '6' => TarEntryType.Fifo,
                'S' => TarEntryType.SparseFile,
                _ => TarEntryType.Other,
            };

            // Links and devices carry no data whatever their size field says (POSIX); directories neither.
            if (type is TarEntryType.HardLink or TarEntryType.SymbolicLink or TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Directory or TarEntryType.Fifo)
            {
                dataSize = 0;
            }

            var dataOffset = _position;
            if (_length >= 0 && dataSize > _length - dataOffset)
            {
                throw Error(blockOffset, $"member '{name}' claims {dataSize} bytes at offset {dataOffset}, but the archive ends at {_length}");
            }

            _current = new TarEntry(name, type, dataSize, string.IsNullOrEmpty(linkName) ? null : linkName, headerOffset, dataOffset);
            _remaining = dataSize;
            _padding = Padding(dataSize);
            return _current;
        }
    }

    /// <summary>Reads up to <paramref name="buffer"/>.Length bytes of the current member; 0 at its end.</summary>
    /// <exception cref="OvaFormatException">The archive ends inside the member.</exception>
    public int Read(Span<byte> buffer)
    {
        if (_remaining == 0 || buffer.IsEmpty)
        {
            return 0;
        }

        if (buffer.Length > _remaining)
        {
            buffer = buffer[..(int)_remaining];
        }

        var read = _source.Read(buffer);
        if (read == 0)
        {
            throw Truncated();
        }

        _position += read;
        _remaining -= read;
        return read;
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes of the current member.</summary>
    /// <exception cref="OvaFormatException">The member or the archive ends first.</exception>
    public void ReadExactly(Span<byte> buffer)
    {
        if (buffer.Length > _remaining)
        {
            throw new OvaFormatException($"{_sourceName}: member '{_current?.Name}' ends at offset {_position + _remaining}, {buffer.Length} bytes were needed at {_position}");
        }

        while (!buffer.IsEmpty)
        {
            var read = Read(buffer);
            buffer = buffer[read..];
        }
    }

    /// <summary>Skips what is left of the current member and its padding.</summary>
    public void SkipRest()
    {
        Skip(_remaining + _padding);
        _remaining = 0;
        _padding = 0;
    }

    /// <summary>Reads the whole current member into memory, refusing members above <paramref name="limit"/> bytes.</summary>
    /// <exception cref="OvaFormatException">The member is larger than the limit, or truncated.</exception>
    public byte[] ReadAll(int limit, string what)
    {
        var entry = _current ?? throw new InvalidOperationException("no current member");
        if (_remaining > limit)
        {
            throw new OvaFormatException($"{_sourceName}: {what} '{entry.Name}' is {entry.Size} bytes, more than the {limit}-byte limit");
        }

        var data = new byte[_remaining];
        ReadExactly(data);
        return data;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_leaveOpen)
        {
            _source.Dispose();
        }
    }

    private void Skip(long count)
    {
        if (count == 0)
        {
            return;
        }

        if (_length >= 0)
        {
            if (count > _length - _position)
            {
                _position = _length;
                throw Truncated();
            }

            _source.Seek(count, SeekOrigin.Current);
            _position += count;
            return;
        }

        var scratch = ArrayPool<byte>.Shared.Rent(64 << 10);
        try
        {
            while (count > 0)
            {
                var read = _source.Read(scratch, 0, (int)Math.Min(scratch.Length, count));
                if (read == 0)
                {
                    throw Truncated();
                }

                _position += read;
                count -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private bool ReadBlock(bool allowEnd)
    {
        var filled = 0;
        while (filled < BlockSize)
        {
            var read = _source.Read(_block, filled, BlockSize - filled);
            if (read == 0)
            {
                if (filled == 0 && allowEnd)
                {
                    return false;
                }

                throw Error(_position, $"archive truncated inside a header block ({filled} of {BlockSize} bytes)");
            }

            filled += read;
            _position += read;
        }

        return true;
    }

    private byte[] ReadMetadata(long size, long blockOffset, string what)
    {
        if (size > MaxMetadataSize)
        {
            throw Error(blockOffset, $"{what} of {size} bytes (limit {MaxMetadataSize})");
        }

        var data = new byte[size];
        var span = data.AsSpan();
        while (!span.IsEmpty)
        {
            var read = _source.Read(span);
            if (read == 0)
            {
                throw Error(_position, $"archive truncated inside a {what}");
            }

            _position += read;
            span = span[read..];
        }

        Skip(Padding(size));
        return data;
    }

    private string ReadMetadataString(long size, long blockOffset, string what) =>
        NullTerminated(ReadMetadata(size, blockOffset, what));

    private static void ParsePax(byte[] data, long blockOffset, ref string? path, ref string? link, ref long? size, ref bool sparse)
    {
        var span = data.AsSpan();
        while (!span.IsEmpty)
        {
            var space = span.IndexOf((byte)' ');
            if (space <= 0 || !TryParseDecimal(span[..space], out var length) || length <= space + 1 || length > span.Length || span[(int)length - 1] != (byte)'\n')
            {
                throw new OvaFormatException($"malformed pax record in the header at offset {blockOffset}");
            }

            var record = span[(space + 1)..(int)(length - 1)];
            var equals = record.IndexOf((byte)'=');
            if (equals <= 0)
            {
                throw new OvaFormatException($"malformed pax record in the header at offset {blockOffset}");
            }

            var key = Encoding.UTF8.GetString(record[..equals]);
            var value = record[(equals + 1)..];
            switch (key)
            {
                case "path":
                    path = Encoding.UTF8.GetString(value);
                    break;
                case "linkpath":
                    link = Encoding.UTF8.GetString(value);
                    break;
                case "size":
                    if (!TryParseDecimal(value, out var parsed))
                    {
                        throw new OvaFormatException($"pax size '{Encoding.UTF8.GetString(value)}' is not a number (header at offset {blockOffset})");
                    }

                    size = parsed;
                    break;
                default:
                    if (key.StartsWith("GNU.sparse.", StringComparison.Ordinal))
                    {
                        sparse = true;
                    }

                    break;
            }

            span = span[(int)length..];
        }
    }

    private static bool TryParseDecimal(ReadOnlySpan<byte> digits, out long value)
    {
        value = 0;
        if (digits.IsEmpty || digits.Length > 18)
        {
            return false;
        }

        foreach (var b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = value * 10 + (b - '0');
        }

        return true;
    }

    private string HeaderName()
    {
        var name = NullTerminated(_block.AsSpan(0, 100));

        // POSIX ustar ("ustar\0") splits long names into prefix/name; GNU's "ustar  \0" uses those bytes for times.
        if (_block.AsSpan(257, 6).SequenceEqual("ustar\0"u8))
        {
            var prefix = NullTerminated(_block.AsSpan(345, 155));
            if (prefix.Length > 0)
            {
                return prefix + "/" + name;
            }
        }

        return name;
    }

    private void VerifyChecksum(long blockOffset)
    {
        var stored = ParseNumber(_block.AsSpan(148, 8), blockOffset, "checksum");
        long unsigned = 0;
        long signed = 0;
        for (var i = 0; i < BlockSize; i++)
        {
            var b = i is >= 148 and < 156 ? (byte)' ' : _block[i];
            unsigned += b;
            signed += (sbyte)b;
        }

        if (stored != unsigned && stored != signed)
        {
            throw Error(blockOffset, $"header checksum mismatch (stored {stored}, computed {unsigned}): not a tar archive, or corrupt");
        }
    }

    /// <summary>Octal (NUL/space padded) or GNU base-256 (high bit of the first byte set).</summary>
    private long ParseNumber(ReadOnlySpan<byte> field, long blockOffset, string what)
    {
        if ((field[0] & 0x80) != 0)
        {
            if (field[0] == 0xFF)
            {
                throw Error(blockOffset, $"negative base-256 {what}");
            }

            long value = field[0] & 0x7F;
            for (var i = 1; i < field.Length; i++)
            {
                if (value > (long.MaxValue >> 8))
                {
                    throw Error(blockOffset, $"base-256 {what} overflows");
                }

                value = (value << 8) | field[i];
            }

            return value;
        }

        long result = 0;
        var i2 = 0;
        while (i2 < field.Length && field[i2] is (byte)' ' or 0)
        {
            i2++;
        }

        for (; i2 < field.Length; i2++)
        {
            var b = field[i2];
            if (b is (byte)' ' or 0)
            {
                break;
            }

            if (b is < (byte)'0' or > (byte)'7')
            {
                throw Error(blockOffset, $"{what} field is not octal: not a tar archive, or corrupt");
            }

            result = (result << 3) | (long)(b - '0');
        }

        return result;
    }

    private static string NullTerminated(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }

    private static long Padding(long size) => (BlockSize - (size % BlockSize)) % BlockSize;

    private OvaFormatException Truncated() =>
        new($"{_sourceName}: archive truncated: member '{_current?.Name}' needs {_remaining} more bytes at offset {_position}{(_length >= 0 ? $", but the archive ends at {_length}" : "")}");

    private OvaFormatException Error(long offset, string message) => new($"{_sourceName}: tar header at offset {offset}: {message}");
}
