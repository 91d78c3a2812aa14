using System.Buffers;
using System.Text;
using Engine.Blocks.Tar;

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
internal sealed class TarReader : IDisposable
{
    /// <summary>Size of a tar block.</summary>
    public const int BlockSize = UstarLayout.BlockSize;

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
    private long _storedRemaining;
    private long _padding;
    private SparseMap? _sparse;
    private int _region;
    private long _logical;
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
        var pax = new PaxHeader();
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
            var typeflag = _block[UstarLayout.TypeFlagOffset];
            var size = ParseNumber(_block.AsSpan(UstarLayout.SizeOffset, UstarLayout.LongFieldLength), blockOffset, "size");
            switch (typeflag)
            {
                case UstarLayout.GnuLongName:
                    longName = ReadMetadataString(size, blockOffset, "GNU long name");
                    continue;
                case UstarLayout.GnuLongLink:
                    longLink = ReadMetadataString(size, blockOffset, "GNU long link name");
                    continue;
                case UstarLayout.PaxExtendedHeader:
                    pax.Parse(ReadMetadata(size, blockOffset, "pax header"), blockOffset);
                    continue;
                case UstarLayout.PaxGlobalHeader:
                    // Global pax records apply to later members; the keys that matter here (path, size) make no sense
                    // globally, so the block is read (bounded) and ignored.
                    ReadMetadata(size, blockOffset, "pax global header");
                    continue;
                default:
                    break;
            }

            var name = pax.SparseName ?? pax.Path ?? longName ?? HeaderName();
            var linkName = pax.LinkPath ?? longLink ?? NullTerminated(_block.AsSpan(UstarLayout.LinkNameOffset, UstarLayout.NameLength));
            var dataSize = pax.Size ?? size;
            var type = typeflag switch
            {
                UstarLayout.RegularFile or 0 or UstarLayout.ContiguousFile => pax.IsSparse ? TarEntryType.SparseFile : TarEntryType.RegularFile,
                UstarLayout.HardLink => TarEntryType.HardLink,
                UstarLayout.Symlink => TarEntryType.SymbolicLink,
                UstarLayout.CharacterDevice => TarEntryType.CharacterDevice,
                UstarLayout.BlockDevice => TarEntryType.BlockDevice,
                UstarLayout.Directory => TarEntryType.Directory,
                UstarLayout.Fifo => TarEntryType.Fifo,
                UstarLayout.GnuSparse => TarEntryType.SparseFile,
                _ => TarEntryType.Other,
            };

            // Links and devices carry no data whatever their size field says (POSIX); directories neither.
            if (type is TarEntryType.HardLink or TarEntryType.SymbolicLink or TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Directory or TarEntryType.Fifo)
            {
                dataSize = 0;
            }

            // The old GNU format keeps the map in the header and in extension blocks after it, before the data.
            (List<SparseRegion> Regions, long RealSize)? oldGnuMap = typeflag == UstarLayout.GnuSparse ? ReadOldGnuSparseMap(blockOffset, name) : null;
            var dataOffset = _position;
            if (_length >= 0 && dataSize > _length - dataOffset)
            {
                throw Error(blockOffset, $"member '{name}' claims {dataSize} bytes at offset {dataOffset}, but the archive ends at {_length}");
            }

            _storedRemaining = dataSize;
            _padding = Padding(dataSize);
            _sparse = null;
            _region = 0;
            _logical = 0;
            var logicalSize = dataSize;
            if (type == TarEntryType.SparseFile)
            {
                _sparse = SparseMapOf(oldGnuMap, pax, blockOffset, name, dataSize);
                logicalSize = _sparse.RealSize;
            }

            _current = new TarEntry(name, type, logicalSize, string.IsNullOrEmpty(linkName) ? null : linkName, headerOffset, dataOffset) { StoredSize = dataSize };
            _remaining = logicalSize;
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

        return _sparse is null ? ReadStored(buffer) : ReadSparse(buffer);
    }

    /// <summary>Bytes of hole (zeros) from the current position of a sparse member; 0 inside data and for other members.</summary>
    public long HoleAhead
    {
        get
        {
            if (_sparse is null || _remaining == 0)
            {
                return 0;
            }

            var regions = _sparse.Regions;
            while (_region < regions.Count && regions[_region].End <= _logical)
            {
                _region++;
            }

            if (_region < regions.Count && regions[_region].Offset <= _logical)
            {
                return 0;
            }

            return (_region < regions.Count ? regions[_region].Offset : _sparse.RealSize) - _logical;
        }
    }

    /// <summary>Moves past <paramref name="count"/> bytes of a hole without producing them (at most <see cref="HoleAhead"/>).</summary>
    public void SkipHole(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, HoleAhead);
        _logical += count;
        _remaining -= count;
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
        Skip(_storedRemaining + _padding);
        _remaining = 0;
        _storedRemaining = 0;
        _padding = 0;
        _sparse = null;
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

    private int ReadStored(Span<byte> buffer)
    {
        var read = _source.Read(buffer);
        if (read == 0)
        {
            throw Truncated();
        }

        _position += read;
        _storedRemaining -= read;
        _remaining -= read;
        return read;
    }

    /// <summary>The expanded file: stored bytes inside the regions, zeros in the holes between them.</summary>
    private int ReadSparse(Span<byte> buffer)
    {
        int count;
        var hole = HoleAhead;
        if (hole > 0)
        {
            count = (int)Math.Min(buffer.Length, hole);
            buffer[..count].Clear();
        }
        else
        {
            count = (int)Math.Min(buffer.Length, _sparse!.Regions[_region].End - _logical);
            count = _source.Read(buffer[..count]);
            if (count == 0)
            {
                throw Truncated();
            }

            _position += count;
            _storedRemaining -= count;
        }

        _logical += count;
        _remaining -= count;
        return count;
    }

    /// <summary>
    /// The old GNU sparse header ('S'): four (offset, numbytes) pairs at 386, an "extended" flag at 482 and the real
    /// size at 483; each extension block after it holds 21 more pairs and its own flag at 504.
    /// </summary>
    private (List<SparseRegion> Regions, long RealSize) ReadOldGnuSparseMap(long blockOffset, string name)
    {
        var regions = new List<SparseRegion>();
        var realSize = ParseNumber(_block.AsSpan(UstarLayout.GnuRealSizeOffset, UstarLayout.LongFieldLength), blockOffset, "sparse real size");
        var extended = AddOldGnuRegions(regions, UstarLayout.GnuSparseOffset, UstarLayout.GnuSparseHeaderPairs, blockOffset) && _block[UstarLayout.GnuIsExtendedOffset] != 0;
        while (extended)
        {
            var extensionOffset = _position;
            if (regions.Count > SparseMap.MaxRegions)
            {
                throw Error(blockOffset, $"member '{name}': sparse map of more than {SparseMap.MaxRegions} regions");
            }

            ReadBlock(allowEnd: false);
            extended = AddOldGnuRegions(regions, 0, UstarLayout.GnuExtensionPairs, extensionOffset) && _block[UstarLayout.GnuExtensionIsExtendedOffset] != 0;
        }

        return (regions, realSize);
    }

    /// <summary>Adds the pairs of the current block; false once an empty pair ends the map.</summary>
    private bool AddOldGnuRegions(List<SparseRegion> regions, int start, int count, long blockOffset)
    {
        for (var i = 0; i < count; i++)
        {
            var field = _block.AsSpan(start + i * UstarLayout.GnuSparsePairLength, UstarLayout.GnuSparsePairLength);
            if (field[0] == 0)
            {
                return false;
            }

            regions.Add(new SparseRegion(ParseNumber(field[..UstarLayout.LongFieldLength], blockOffset, "sparse offset"), ParseNumber(field[UstarLayout.LongFieldLength..], blockOffset, "sparse length")));
        }

        return true;
    }

    /// <summary>The member's map from whichever encoding it uses, checked against the stored data.</summary>
    private SparseMap SparseMapOf((List<SparseRegion> Regions, long RealSize)? oldGnu, PaxHeader pax, long blockOffset, string name, long storedSize)
    {
        OvaFormatException Describe(string message) => Error(blockOffset, $"member '{name}': {message}");
        List<SparseRegion> regions;
        long realSize;
        var dataBytes = storedSize;
        if (oldGnu is { } map)
        {
            (regions, realSize) = map;
        }
        else if (pax.SparseMajor == 1)
        {
            // GNU sparse 1.0: the map is decimal text at the start of the data, padded to a whole block.
            regions = ReadSparseMapText(Describe);
            dataBytes = _storedRemaining;
            realSize = pax.SparseRealSize ?? throw Describe("GNU sparse 1.0 member without GNU.sparse.realsize");
        }
        else
        {
            regions = pax.SparseRegions ?? throw Describe("GNU.sparse records without a map (GNU.sparse.map or GNU.sparse.offset/numbytes)");
            realSize = pax.SparseRealSize ?? throw Describe("GNU sparse member without GNU.sparse.size");
        }

        var sparse = SparseMap.Create(regions, realSize, Describe);
        if (sparse.DataBytes != dataBytes)
        {
            throw Describe($"the sparse map holds {sparse.DataBytes} bytes of data, but {dataBytes} are stored");
        }

        return sparse;
    }

    /// <summary>Reads GNU sparse 1.0's map: a count, then offset and length, one decimal number per line.</summary>
    private List<SparseRegion> ReadSparseMapText(Func<string, OvaFormatException> describe)
    {
        var text = new SparseMapText(describe);
        var regions = new List<SparseRegion>();
        long? count = null;
        long? pendingOffset = null;
        while (count is null || regions.Count < count)
        {
            if (!text.TryNext(out var number))
            {
                if (_storedRemaining < BlockSize)
                {
                    throw describe("the GNU sparse 1.0 map runs past the member's data");
                }

                ReadBlock(allowEnd: false);
                _storedRemaining -= BlockSize;
                text.Feed(_block);
                continue;
            }

            if (count is null)
            {
                count = number <= SparseMap.MaxRegions ? number : throw describe($"sparse map of {number} regions (limit {SparseMap.MaxRegions})");
            }
            else if (pendingOffset is { } offset)
            {
                regions.Add(new SparseRegion(offset, number));
                pendingOffset = null;
            }
            else
            {
                pendingOffset = number;
            }
        }

        return regions;
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

    internal static bool TryParseDecimal(ReadOnlySpan<byte> digits, out long value)
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
        var name = NullTerminated(_block.AsSpan(UstarLayout.NameOffset, UstarLayout.NameLength));

        // POSIX ustar ("ustar\0") splits long names into prefix/name; GNU's "ustar  \0" uses those bytes for times.
        if (_block.AsSpan(UstarLayout.MagicOffset, UstarLayout.MagicLength).SequenceEqual(UstarLayout.PosixMagic))
        {
            var prefix = NullTerminated(_block.AsSpan(UstarLayout.PrefixOffset, UstarLayout.PrefixLength));
            if (prefix.Length > 0)
            {
                return prefix + "/" + name;
            }
        }

        return name;
    }

    private void VerifyChecksum(long blockOffset)
    {
        var stored = ParseNumber(_block.AsSpan(UstarLayout.ChecksumOffset, UstarLayout.ChecksumLength), blockOffset, "checksum");
        var (unsigned, signed) = UstarChecksum.Compute(_block);
        if (stored != unsigned && stored != signed)
        {
            throw Error(blockOffset, $"header checksum mismatch (stored {stored}, computed {unsigned}): not a tar archive, or corrupt");
        }
    }

    /// <summary>Octal (NUL/space padded) or GNU base-256 (high bit of the first byte set).</summary>
    private long ParseNumber(ReadOnlySpan<byte> field, long blockOffset, string what) =>
        UstarNumber.TryParse(field, out var value) switch
        {
            UstarNumberStatus.Valid => value,
            UstarNumberStatus.NegativeBase256 => throw Error(blockOffset, $"negative base-256 {what}"),
            UstarNumberStatus.Overflow => throw Error(blockOffset, $"base-256 {what} overflows"),
            _ => throw Error(blockOffset, $"{what} field is not octal: not a tar archive, or corrupt"),
        };

    private static string NullTerminated(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }

    private static long Padding(long size) => (BlockSize - (size % BlockSize)) % BlockSize;

    private OvaFormatException Truncated() =>
        new($"{_sourceName}: archive truncated: member '{_current?.Name}' needs {_storedRemaining} more bytes at offset {_position}{(_length >= 0 ? $", but the archive ends at {_length}" : "")}");

    private OvaFormatException Error(long offset, string message) => new($"{_sourceName}: tar header at offset {offset}: {message}");
}
