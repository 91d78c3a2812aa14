using Engine.Blocks;
using Engine.Blocks.Buffers;
using Engine.Blocks.Devices;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server.Handshake;
using Engine.Nbd.Transport;
using Microsoft.Extensions.Logging;

namespace Engine.Nbd.Server.Transmission;

/// <summary>
/// The transmission phase of one connection. The reader thread (this class's <see cref="Run"/>) parses requests in
/// place, validates them, receives write payloads straight into pooled buffers and dispatches: reads of file-backed
/// exports are answered inline (sendfile(2) segments on a plain socket, preads into pooled buffers under TLS),
/// everything else runs on the thread pool. Replies go out
/// through the connection's <see cref="ReplyWriter"/> in completion order. One partial file per command group.
/// </summary>
internal sealed partial class TransmissionSession
{
    /// <summary>Write payload bytes one connection may hold in flight.</summary>
    private const long MaxBytesInFlight = 256L << 20;

    private readonly NegotiatedSession _session;
    private readonly ConnectionTransport _channel;
    private readonly NbdServerOptions _options;
    private readonly ILogger _logger;
    private readonly string _peer;
    private readonly IBlockDevice _device;
    private readonly BlockDeviceCapabilities _capabilities;
    private readonly long _size;
    private readonly int _minimumBlock;
    private readonly bool _extended;
    private readonly bool _structured;
    private readonly IFileHandleSource? _sendFileSource;
    private readonly IFileRangeSource? _fileRanges;
    private readonly bool _readInline;
    private readonly InFlightGate _gate;
    private readonly ReplyWriter _writer;
    private readonly Stack<ReplyJob> _idleJobs = new();
    private readonly CancellationToken _aborted;

    public TransmissionSession(NegotiatedSession session, ConnectionTransport channel, NbdServerOptions options, ILogger logger, string peer, CancellationToken aborted)
    {
        _session = session;
        _channel = channel;
        _options = options;
        _logger = logger;
        _peer = peer;
        _aborted = aborted;
        _device = session.Export.Device;
        _capabilities = _device.Capabilities;
        _size = _device.Size;
        _minimumBlock = Math.Max(1, _device.MinimumBlockSize);
        _extended = session.ExtendedHeaders;
        _structured = session.StructuredReplies;
        _gate = new InFlightGate(options.MaxRequestsInFlight, MaxBytesInFlight);
        var fileFd = -1;
        // Zero-copy needs both ends: a device that exposes a file and a transport that can send file ranges (a plain
        // socket; under TLS the data must pass through user space to be encrypted, so reads use pooled buffers).
        if (options.ZeroCopyReads && channel.CanSendFileRanges && _device is IFileHandleSource { CanSendFile: true } source)
        {
            _sendFileSource = source;
            fileFd = (int)source.Handle.DangerousGetHandle();
        }
        else if (options.ZeroCopyReads && channel.CanSendFileRanges && _device is IFileRangeSource ranges)
        {
            // An image file (qcow2): its plain data clusters are sent from the file where the device maps them.
            _fileRanges = ranges;
            fileFd = (int)ranges.Handle.DangerousGetHandle();
        }
        else
        {
            // Under TLS a file-backed export's reads are preads that finish at once: the reader thread does them
            // itself rather than paying a thread-pool hand-off per request, and the writer encrypts meanwhile.
            _readInline = !channel.CanSendFileRanges && _device is IFileHandleSource { CanSendFile: true };
        }

        _writer = new ReplyWriter(channel, fileFd, Recycle, logger, peer);
    }

    /// <summary>Serves requests until the client disconnects, the connection breaks or the server shuts down.</summary>
    public void Run()
    {
        var headerLength = _extended ? NbdWire.ExtendedRequestHeaderLength : NbdWire.RequestHeaderLength;
        _writer.Start();
        try
        {
            while (!_writer.Broken)
            {
                var mark = RequestAllocationMeter.Begin();
                if (!_channel.TryFill(headerLength))
                {
                    ServerLog.ClientLeft(_logger, _peer, "closed the socket");
                    return;
                }

                if (!RequestHeader.TryParse(_channel.Peek(headerLength), _extended, out var request))
                {
                    throw new ConnectionClosedException("bad request magic: the stream is out of step", reason: ConnectionCloseReason.ProtocolError);
                }

                _channel.Consume(headerLength);
                if (request.Command == NbdCommand.Disconnect)
                {
                    ServerLog.ClientLeft(_logger, _peer, "NBD_CMD_DISC");
                    return;
                }

                Accept(request);
                RequestAllocationMeter.End(mark);
            }
        }
        finally
        {
            // Whatever ended the loop, requests already accepted still get their replies (or are dropped if the
            // socket is gone) before the connection closes.
            _gate.WaitIdle();
            _writer.CompleteAndJoin();
            while (_idleJobs.TryPop(out var job))
            {
                job.ReleaseBuffer();
            }
        }
    }

    /// <summary>Runs a dispatched request on a pool thread, then hands its reply to the writer.</summary>
    public async Task ExecuteAsync(ReplyJob job)
    {
        try
        {
            var request = job.Request;
            switch (request.Command)
            {
                case NbdCommand.Read:
                    await ReadAsync(job).ConfigureAwait(false);
                    break;
                case NbdCommand.Write:
                    await _device.WriteAsync((long)request.Offset, job.Buffer!.Memory, FuaOf(request), _aborted).ConfigureAwait(false);
                    AppendSuccess(job);
                    break;
                case NbdCommand.Flush:
                    await _device.FlushAsync(_aborted).ConfigureAwait(false);
                    AppendSuccess(job);
                    break;
                case NbdCommand.Trim:
                    if ((_capabilities & BlockDeviceCapabilities.Trim) != 0)
                    {
                        await _device.TrimAsync((long)request.Offset, (long)request.Length, FuaOf(request), _aborted).ConfigureAwait(false);
                    }

                    AppendSuccess(job);
                    break;
                case NbdCommand.Cache:
                    await _device.CacheAsync((long)request.Offset, (long)request.Length, _aborted).ConfigureAwait(false);
                    AppendSuccess(job);
                    break;
                case NbdCommand.WriteZeroes:
                    await WriteZeroesAsync(job).ConfigureAwait(false);
                    break;
                case NbdCommand.BlockStatus:
                    await BlockStatusAsync(job).ConfigureAwait(false);
                    break;
                default:
                    AppendError(job, NbdError.Invalid, "unknown command");
                    break;
            }
        }
        catch (Exception ex)
        {
            Fail(job, ex);
        }

        _writer.Enqueue(job);
    }

    private void Accept(in RequestHeader request)
    {
        // Refuse before reading the payload, so that a refused WRITE is drained rather than buffered.
        var (error, message) = Validate(request);
        if (request.PayloadLength > (ulong)_options.MaxPayload)
        {
            // Draining keeps the connection usable; the spec only tolerates a hard disconnect for payloads too large
            // to be anything but an attack, and never for those within the 32 MiB every server should accept.
            if (_extended && request.PayloadLength > (ulong)Math.Max(_options.MaxPayload, NbdWire.DefaultMaxPayload))
            {
                throw new ConnectionClosedException($"payload of {request.PayloadLength} bytes exceeds the {_options.MaxPayload}-byte maximum", reason: ConnectionCloseReason.ProtocolError);
            }

            error = NbdError.Invalid;
            message = $"payload of {request.PayloadLength} bytes exceeds the {_options.MaxPayload}-byte maximum";
        }

        var keepPayload = error == NbdError.None && request.Command == NbdCommand.Write;
        var held = keepPayload ? (long)request.PayloadLength : 0;
        _gate.Enter(held);
        var job = RentJob(request, held);
        try
        {
            if (keepPayload)
            {
                job.Buffer = BufferPool.Shared.Rent((int)request.PayloadLength);
                _channel.ReadExact(job.Buffer.Span);
            }
            else if (request.PayloadLength > 0)
            {
                _channel.Skip((long)request.PayloadLength);
            }
        }
        catch
        {
            Recycle(job);
            throw;
        }

        if (error != NbdError.None)
        {
            ServerLog.RequestRefused(_logger, _peer, request.Command, request.Offset, request.Length, message);
            AppendError(job, error, message!);
            _writer.SendOrEnqueue(job);
            return;
        }

        if (request.Command == NbdCommand.Read && (_sendFileSource is not null || _fileRanges is not null))
        {
            ReadWithSendFile(job);
            _writer.SendOrEnqueue(job);
            return;
        }

        if (request.Command == NbdCommand.Read && _readInline)
        {
            // Encrypted on this thread too when the writer is idle: handing every reply to the writer measured more
            // CPU (a wake-up per reply) and no more speed, multi-conn clients keep both cores busy (bench/RESULTS.md).
            ReadOnReader(job);
            _writer.SendOrEnqueue(job);
            return;
        }

        ThreadPool.UnsafeQueueUserWorkItem(job, preferLocal: false);
    }

    private ReplyJob RentJob(in RequestHeader request, long held)
    {
        ReplyJob? job;
        lock (_idleJobs)
        {
            _idleJobs.TryPop(out job);
        }

        job ??= new ReplyJob(this);
        job.Reset(request, held);
        return job;
    }

    private void Recycle(ReplyJob job)
    {
        job.ReleaseBuffer();
        var held = job.HeldBytes;
        lock (_idleJobs)
        {
            _idleJobs.Push(job);
        }

        _gate.Exit(held);
    }

    private static WriteFlags FuaOf(in RequestHeader request) =>
        (request.Flags & CommandFlags.Fua) != 0 ? WriteFlags.Fua : WriteFlags.None;

    private void AppendSuccess(ReplyJob job)
    {
        if (_extended)
        {
            job.AppendChunkHeader(extended: true, ReplyFlags.Done, NbdReplyType.None, 0);
        }
        else
        {
            job.AppendSimpleReply(NbdError.None);
        }
    }

    private void Fail(ReplyJob job, Exception exception)
    {
        var error = NbdErrorMapper.ForRequest(exception, job.Request);
        if (error == NbdError.Io || exception is not BlockDeviceException)
        {
            ServerLog.RequestFailed(_logger, exception, _peer, job.Request.Command, job.Request.Offset, job.Request.Length);
        }
        else
        {
            ServerLog.RequestFailedQuietly(_logger, _peer, job.Request.Command, job.Request.Offset, job.Request.Length, exception.Message);
        }

        // Anything half-built is discarded: the error replaces the whole reply.
        job.Reset(job.Request, job.HeldBytes);
        AppendError(job, error, exception.Message);
    }

    private void AppendError(ReplyJob job, NbdError error, string message)
    {
        if (!_structured)
        {
            job.AppendSimpleReply(error);
            return;
        }

        Span<byte> text = stackalloc byte[256];
        var length = System.Text.Encoding.UTF8.GetBytes(message.AsSpan(0, Math.Min(message.Length, 80)), text);
        job.AppendChunkHeader(_extended, ReplyFlags.Done, NbdReplyType.Error, 6 + length);
        job.AppendUInt32((uint)error);
        job.AppendUInt16((ushort)length);
        job.AppendBytes(text[..length]);
    }
}
