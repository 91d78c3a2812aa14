using Engine.Blocks.Native;
using Engine.Nbd.Transport;
using Microsoft.Extensions.Logging;

namespace Engine.Nbd.Server.Transmission;

/// <summary>
/// The only sender on a connection in transmission: a dedicated thread that takes finished replies from a queue
/// and writes them as gather lists and file ranges (sendmsg(2) and sendfile(2) on a plain socket; encrypted into the
/// TLS session, corked per burst of replies, under TLS). A client that stops reading blocks this thread
/// alone, never a shared pool thread and never another client.
/// </summary>
internal sealed class ReplyWriter
{
    private const int MaxVectors = 64;

    private readonly ConnectionTransport _channel;
    private readonly int _fileFd;
    private readonly Action<ReplyJob> _recycle;
    private readonly ILogger _logger;
    private readonly string _peer;
    private readonly Queue<ReplyJob> _queue = new();
    private readonly Thread _thread;
    private bool _completed;
    private bool _waiting;
    private bool _sending;
    private volatile bool _broken;

    public ReplyWriter(ConnectionTransport channel, int fileFd, Action<ReplyJob> recycle, ILogger logger, string peer)
    {
        _channel = channel;
        _fileFd = fileFd;
        _recycle = recycle;
        _logger = logger;
        _peer = peer;
        _thread = new Thread(Run) { IsBackground = true, Name = $"nbd-writer {peer}" };
    }

    /// <summary>True once a send failed: the peer is gone, further replies are dropped.</summary>
    public bool Broken => _broken;

    public void Start() => _thread.Start();

    public void Enqueue(ReplyJob job)
    {
        lock (_queue)
        {
            _queue.Enqueue(job);
            if (_waiting && !_sending)
            {
                Monitor.Pulse(_queue);
            }
        }
    }

    /// <summary>
    /// Sends the reply on the calling thread when nobody else is sending and nothing is queued, saving the writer
    /// thread's wake-up on the latency-critical path; otherwise queues it. Only the reader thread calls this: if
    /// the client stops reading, blocking the reader is the back-pressure we want anyway.
    /// </summary>
    public void SendOrEnqueue(ReplyJob job)
    {
        lock (_queue)
        {
            if (_sending || _queue.Count > 0 || _broken)
            {
                _queue.Enqueue(job);
                if (_waiting && !_sending)
                {
                    Monitor.Pulse(_queue);
                }

                return;
            }

            _sending = true;
        }

        SendAndRecycle(job, more: false);
        lock (_queue)
        {
            _sending = false;
            if (_waiting && _queue.Count > 0)
            {
                Monitor.Pulse(_queue);
            }
        }
    }

    /// <summary>No more replies will come: the thread exits once the queue is empty. Waits for it.</summary>
    public void CompleteAndJoin()
    {
        lock (_queue)
        {
            _completed = true;
            Monitor.Pulse(_queue);
        }

        _thread.Join();
    }

    private void Run()
    {
        while (true)
        {
            ReplyJob job;
            bool more;
            lock (_queue)
            {
                while (_queue.Count == 0 || _sending)
                {
                    if (_completed && _queue.Count == 0 && !_sending)
                    {
                        return;
                    }

                    _waiting = true;
                    Monitor.Wait(_queue);
                    _waiting = false;
                }

                job = _queue.Dequeue();
                _sending = true;
                more = _queue.Count > 0;
            }

            var mark = RequestAllocationMeter.Begin();
            SendAndRecycle(job, more);
            RequestAllocationMeter.End(mark);
            lock (_queue)
            {
                _sending = false;
            }
        }
    }

    private void SendAndRecycle(ReplyJob job, bool more)
    {
        if (!_broken)
        {
            try
            {
                Send(job, more);
                if (job.FatalAfterSend)
                {
                    throw new ConnectionClosedException("a read failed after its reply header was sent");
                }
            }
            catch (ConnectionClosedException ex)
            {
                _broken = true;
                ServerLog.SendStopped(_logger, _peer, ex.Message);

                // Wake the reader too: nothing more can be answered on this connection.
                _channel.ShutdownBoth();
            }
        }

        _recycle(job);
    }

    private unsafe void Send(ReplyJob job, bool more)
    {
        Span<LibC.IoVec> vectors = stackalloc LibC.IoVec[MaxVectors];
        var count = 0;
        var segments = job.Segments;
        fixed (byte* wire = job.Wire)
        {
            var data = job.Buffer is null ? null : job.Buffer.Pointer;
            for (var i = 0; i < segments.Length; i++)
            {
                var segment = segments[i];
                if (segment.Kind == ReplySegmentKind.File)
                {
                    if (count > 0)
                    {
                        _channel.Send(vectors[..count], more: true);
                        count = 0;
                    }

                    _channel.SendFileRange(_fileFd, segment.Start, segment.Length);
                    continue;
                }

                if (count == MaxVectors)
                {
                    _channel.Send(vectors[..count], more: true);
                    count = 0;
                }

                var origin = segment.Kind == ReplySegmentKind.Wire ? wire : data;
                vectors[count++] = new LibC.IoVec { Base = origin + segment.Start, Length = (nuint)segment.Length };
            }

            if (count > 0)
            {
                _channel.Send(vectors[..count], more);
            }
        }
    }
}
