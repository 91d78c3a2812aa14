using Engine.Ova.Ovf;
using Engine.Ova.Tar;

namespace Engine.Ova.Import;

/// <summary>
/// The stored bytes of one package file as a forward-only stream over the tar reader: a single member, or the
/// chunks <c>href.000000000</c>, <c>href.000000001</c>... joined in order. Each member is hashed as it passes and
/// handed to <see cref="MemberFinished"/>; sizes are checked against <c>ovf:size</c> and <c>ovf:chunkSize</c>.
/// </summary>
internal sealed class DiskMemberStream : ForwardReadStream, IHoleSkipping
{
    private readonly TarReader _reader;
    private readonly OvfFile _file;
    private readonly string _memberBase;
    private readonly Func<string, Manifest.MemberDigest> _digestFor;
    private readonly IProgress<long>? _progress;
    private Manifest.MemberDigest _digest;
    private string _memberName;
    private int _chunk;
    private bool _ended;

    /// <param name="reader">Positioned on the file's (first) member.</param>
    /// <param name="file">The file's References entry.</param>
    /// <param name="memberName">The (first) member's normalised name.</param>
    /// <param name="digestFor">Creates the digest for a member name.</param>
    /// <param name="progress">Receives the archive position.</param>
    public DiskMemberStream(TarReader reader, OvfFile file, string memberName, Func<string, Manifest.MemberDigest> digestFor, IProgress<long>? progress)
    {
        _reader = reader;
        _file = file;
        _memberName = memberName;
        _memberBase = file.ChunkSize is null ? memberName : memberName[..^10];
        _digestFor = digestFor;
        _progress = progress;
        _digest = digestFor(memberName);
    }

    /// <summary>
    /// For a gzip file whose stored size disagrees with <c>ovf:size</c>: the stored size. Producers often write the
    /// inflated size there, so the importer decides once it knows that size (the check is not made here).
    /// </summary>
    public long? GzipSizeMismatch { get; private set; }

    /// <summary>Called with each member's name and digest once its last byte has been read.</summary>
    public event Action<string, Manifest.MemberDigest>? MemberFinished;

    /// <summary>A hole of the current member, when no digest needs its zeros (with a manifest entry, every byte is hashed).</summary>
    public long HoleAhead => _ended || _digest.NeedsData ? 0 : _reader.HoleAhead;

    public void SkipHole(long count)
    {
        _reader.SkipHole(count);
        BytesRead += count;
    }

    public override int Read(Span<byte> buffer)
    {
        while (!_ended)
        {
            var read = _reader.Read(buffer);
            if (read > 0)
            {
                _digest.Append(buffer[..read]);
                BytesRead += read;
                _progress?.Report(_reader.Position);
                return read;
            }

            if (buffer.IsEmpty)
            {
                return 0;
            }

            FinishMember();
        }

        return 0;
    }


    private void FinishMember()
    {
        var size = _reader.Current!.Size;
        MemberFinished?.Invoke(_memberName, _digest);
        if (_file.ChunkSize is not { } chunkSize)
        {
            _ended = true;
            CheckTotal();
            return;
        }

        if (size > chunkSize)
        {
            throw new OvaFormatException($"{_reader.SourceName}: chunk '{_memberName}' (header at offset {_reader.Current.HeaderOffset}) has {size} bytes, more than ovf:chunkSize {chunkSize}");
        }

        if (size < chunkSize || (_file.Size is { } declared && BytesRead >= declared))
        {
            // A short chunk is the last one.
            _ended = true;
            CheckTotal();
            return;
        }

        _chunk++;
        var expected = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{_memberBase}.{_chunk:D9}");
        var next = _reader.Next();
        if (next is null || next.SafeName != expected)
        {
            // Chunks must be consecutive members. (Without ovf:size, a file that is an exact multiple of the chunk size
            // cannot be told apart from a missing chunk; exporters always write ovf:size.)
            throw new OvaFormatException($"{_reader.SourceName}: '{_file.Href}': chunk {_chunk} ('{expected}') must follow chunk {_chunk - 1}, found {(next is null ? "the end of the archive" : $"'{next.Name}' at offset {next.HeaderOffset}")}");
        }

        if (!next.IsFile)
        {
            throw new OvaFormatException($"{_reader.SourceName}: chunk '{next.Name}' at offset {next.HeaderOffset} is a {next.Type}, not a regular file");
        }

        _memberName = expected;
        _digest = _digestFor(expected);
    }

    private void CheckTotal()
    {
        if (_file.Size is not { } declared || declared == BytesRead)
        {
            return;
        }

        if (_file.Compression == "gzip")
        {
            GzipSizeMismatch = BytesRead;
            return;
        }

        throw new OvaFormatException($"{_reader.SourceName}: '{_file.Href}': {BytesRead} bytes in the archive, but ovf:size says {declared}");
    }
}
