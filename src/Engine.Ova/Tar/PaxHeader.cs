using System.Text;

namespace Engine.Ova.Tar;

/// <summary>
/// The records of a pax extended header ('x') that matter for reading a member: its path, link target and size, and
/// GNU's sparse records in their three encodings (0.0: repeated offset/numbytes, 0.1: one comma-separated map, 1.0:
/// the map in the data, announced by major/minor and realsize).
/// </summary>
internal sealed class PaxHeader
{
    public string? Path { get; private set; }

    public string? LinkPath { get; private set; }

    public long? Size { get; private set; }

    /// <summary>Whether any <c>GNU.sparse.*</c> record was seen.</summary>
    public bool IsSparse { get; private set; }

    /// <summary>The file's real name (0.1 and 1.0 store the member as <c>GNUSparseFile.N/NAME</c>).</summary>
    public string? SparseName { get; private set; }

    /// <summary><c>GNU.sparse.size</c> (0.x) or <c>GNU.sparse.realsize</c> (1.0).</summary>
    public long? SparseRealSize { get; private set; }

    public long? SparseMajor { get; private set; }

    /// <summary>The map of a 0.0 or 0.1 member.</summary>
    public List<SparseRegion>? SparseRegions { get; private set; }

    private long? _pendingOffset;

    /// <summary>Reads one header's records (later records override earlier ones, as pax says).</summary>
    /// <exception cref="OvaFormatException">A record is malformed or a number is not one.</exception>
    public void Parse(byte[] data, long blockOffset)
    {
        var span = data.AsSpan();
        while (!span.IsEmpty)
        {
            var space = span.IndexOf((byte)' ');
            if (space <= 0 || !TarReader.TryParseDecimal(span[..space], out var length) || length <= space + 1 || length > span.Length || span[(int)length - 1] != (byte)'\n')
            {
                throw new OvaFormatException($"malformed pax record in the header at offset {blockOffset}");
            }

            var record = span[(space + 1)..(int)(length - 1)];
            var equals = record.IndexOf((byte)'=');
            if (equals <= 0)
            {
                throw new OvaFormatException($"malformed pax record in the header at offset {blockOffset}");
            }

            Apply(Encoding.UTF8.GetString(record[..equals]), record[(equals + 1)..], blockOffset);
            span = span[(int)length..];
        }
    }

    private void Apply(string key, ReadOnlySpan<byte> value, long blockOffset)
    {
        switch (key)
        {
            case "path":
                Path = Encoding.UTF8.GetString(value);
                return;
            case "linkpath":
                LinkPath = Encoding.UTF8.GetString(value);
                return;
            case "size":
                Size = Number(key, value, blockOffset);
                return;
        }

        if (!key.StartsWith("GNU.sparse.", StringComparison.Ordinal))
        {
            return;
        }

        IsSparse = true;
        switch (key)
        {
            case "GNU.sparse.name":
                SparseName = Encoding.UTF8.GetString(value);
                break;
            case "GNU.sparse.size" or "GNU.sparse.realsize":
                SparseRealSize = Number(key, value, blockOffset);
                break;
            case "GNU.sparse.major":
                SparseMajor = Number(key, value, blockOffset);
                break;
            case "GNU.sparse.offset":
                _pendingOffset = Number(key, value, blockOffset);
                break;
            case "GNU.sparse.numbytes":
                var offset = _pendingOffset ?? throw new OvaFormatException($"pax header at offset {blockOffset}: GNU.sparse.numbytes without a GNU.sparse.offset before it");
                AddRegion(new SparseRegion(offset, Number(key, value, blockOffset)), blockOffset);
                _pendingOffset = null;
                break;
            case "GNU.sparse.map":
                SparseRegions = [];
                ParseMap(value, blockOffset);
                break;
        }
    }

    private void ParseMap(ReadOnlySpan<byte> value, long blockOffset)
    {
        long? offset = null;
        foreach (var range in value.Split((byte)','))
        {
            var number = Number("GNU.sparse.map", value[range], blockOffset);
            if (offset is { } start)
            {
                AddRegion(new SparseRegion(start, number), blockOffset);
                offset = null;
            }
            else
            {
                offset = number;
            }
        }

        if (offset is not null)
        {
            throw new OvaFormatException($"pax header at offset {blockOffset}: GNU.sparse.map has an offset without a length");
        }
    }

    private void AddRegion(SparseRegion region, long blockOffset)
    {
        SparseRegions ??= [];
        if (SparseRegions.Count >= SparseMap.MaxRegions)
        {
            throw new OvaFormatException($"pax header at offset {blockOffset}: sparse map of more than {SparseMap.MaxRegions} regions");
        }

        SparseRegions.Add(region);
    }

    private static long Number(string key, ReadOnlySpan<byte> value, long blockOffset) =>
        TarReader.TryParseDecimal(value, out var number)
            ? number
            : throw new OvaFormatException($"pax {key} '{Encoding.UTF8.GetString(value)}' is not a number (header at offset {blockOffset})");
}
