using System.Buffers;
using System.IO.Pipelines;

namespace Engine.Provider.Protocol;

/// <summary>
/// Splits the provider's input into newline-terminated lines without ever holding more than
/// <see cref="ProviderProtocolHost.MaxLineBytes"/> of one: a longer line is consumed as it arrives and reported once,
/// with its length, when its newline (or the end of input) is reached. Lines are slices of the pipe's buffer and stay
/// valid only until the next <see cref="ReadAsync"/>.
/// </summary>
internal sealed class ProtocolLineReader : IDisposable
{
    private readonly NativeMemoryPool _pool = new();
    private readonly PipeReader _reader;
    private ReadOnlySequence<byte> _buffer;
    private bool _holding;
    private bool _completed;

    // Bytes at the start of _buffer already searched for a newline: each byte is searched once, however many reads a
    // long line takes.
    private long _searched;

    // Bytes of an over-long line consumed so far; 0 when no such line is being skipped.
    private long _skipped;

    /// <summary>Reads from <paramref name="input"/>, which stays open.</summary>
    public ProtocolLineReader(Stream input)
    {
        // Stdin delivers at most a pipe's worth (64 KiB) per read: matching it keeps a long line to a few hundred
        // segments.
        _reader = PipeReader.Create(input, new StreamPipeReaderOptions(_pool, bufferSize: 64 << 10, minimumReadSize: 16 << 10, leaveOpen: true));
    }

    /// <summary>
    /// The next line, an over-long line's length, or the end of input. The line's bytes are valid until the next call.
    /// </summary>
    public async ValueTask<ProtocolLine> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (!_holding)
            {
                var read = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                _buffer = read.Buffer;
                _completed = read.IsCompleted;
                _holding = true;
            }

            if (_buffer.Slice(_searched).PositionOf((byte)'\n') is { } newline)
            {
                var line = _buffer.Slice(0, newline);
                _buffer = _buffer.Slice(_buffer.GetPosition(1, newline));
                _searched = 0;
                return Take(line);
            }

            if (_completed)
            {
                if (_buffer.IsEmpty && _skipped == 0)
                {
                    return ProtocolLine.End;
                }

                // The last line had no newline: it still counts.
                var last = _buffer;
                _buffer = _buffer.Slice(_buffer.End);
                _searched = 0;
                return Take(last);
            }

            if (_buffer.Length > ProviderProtocolHost.MaxLineBytes)
            {
                // Over the limit before its end: drop what came so far so memory stays at one limit's worth.
                _skipped += _buffer.Length;
                _reader.AdvanceTo(_buffer.End);
                _searched = 0;
            }
            else
            {
                // Keep the partial line, and say all of it was examined so the next read waits for more.
                _reader.AdvanceTo(_buffer.Start, _buffer.End);
                _searched = _buffer.Length;
            }

            _holding = false;
        }
    }

    /// <summary>Stops reading and frees the buffers; the input stream stays open.</summary>
    public void Dispose()
    {
        if (_holding)
        {
            _reader.AdvanceTo(_buffer.Start);
            _holding = false;
        }

        _reader.Complete();
        _pool.Dispose();
    }

    private ProtocolLine Take(ReadOnlySequence<byte> line)
    {
        var skipped = _skipped;
        _skipped = 0;
        return ProtocolLine.Of(line, skipped);
    }
}
