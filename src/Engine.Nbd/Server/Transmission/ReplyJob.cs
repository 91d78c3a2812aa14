using System.Buffers.Binary;
using Engine.Blocks;
using Engine.Blocks.Buffers;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Transmission;

/// <summary>
/// One request and the reply being built for it. Reused across requests of a connection, so the steady state
/// allocates nothing. The reply is a list of segments: header bytes kept in <see cref="_wire"/>, slices of the
/// payload buffer, and file ranges that the writer sends with sendfile(2).
/// </summary>
internal sealed class ReplyJob(TransmissionSession owner) : IThreadPoolWorkItem
{
    private byte[] _wire = new byte[512];
    private ReplySegment[] _segments = new ReplySegment[8];

    public RequestHeader Request { get; private set; }

    /// <summary>Request payload (WRITE) or reply data (READ); owned by the job until it is recycled.</summary>
    public NativeBuffer? Buffer { get; set; }

    /// <summary>Write payload bytes counted against the connection's in-flight budget.</summary>
    public long HeldBytes { get; private set; }

    /// <summary>Scratch extents for READ layout and BLOCK_STATUS.</summary>
    public ExtentList Extents { get; } = new();

    public int WireLength { get; private set; }

    public int SegmentCount { get; private set; }

    public ReadOnlySpan<ReplySegment> Segments => _segments.AsSpan(0, SegmentCount);

    public ReadOnlySpan<byte> Wire => _wire.AsSpan(0, WireLength);

    /// <summary>The reply promised data it can no longer deliver; the writer must drop the connection after it.</summary>
    public bool FatalAfterSend { get; set; }

    public void Reset(in RequestHeader request, long heldBytes)
    {
        Request = request;
        HeldBytes = heldBytes;
        WireLength = 0;
        SegmentCount = 0;
        FatalAfterSend = false;
        Extents.Clear();
    }

    /// <summary>Returns the buffer to the pool; called by the writer after the reply is on the wire.</summary>
    public void ReleaseBuffer()
    {
        Buffer?.Dispose();
        Buffer = null;
    }

    void IThreadPoolWorkItem.Execute()
    {
        var mark = RequestAllocationMeter.Begin();
        _ = owner.ExecuteAsync(this);
        RequestAllocationMeter.End(mark);
    }

    public void AppendSimpleReply(NbdError error)
    {
        var span = ReserveWire(NbdWire.SimpleReplyHeaderLength);
        BinaryPrimitives.WriteUInt32BigEndian(span, NbdMagic.SimpleReply);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], (uint)error);
        BinaryPrimitives.WriteUInt64BigEndian(span[8..], Request.Cookie);
    }

    /// <summary>Appends a structured (compact) or extended chunk header.</summary>
    public void AppendChunkHeader(bool extended, ReplyFlags flags, NbdReplyType type, long payloadLength)
    {
        if (extended)
        {
            var span = ReserveWire(NbdWire.ExtendedReplyHeaderLength);
            BinaryPrimitives.WriteUInt32BigEndian(span, NbdMagic.ExtendedReply);
            BinaryPrimitives.WriteUInt16BigEndian(span[4..], (ushort)flags);
            BinaryPrimitives.WriteUInt16BigEndian(span[6..], (ushort)type);
            BinaryPrimitives.WriteUInt64BigEndian(span[8..], Request.Cookie);
            BinaryPrimitives.WriteUInt64BigEndian(span[16..], Request.Offset);
            BinaryPrimitives.WriteUInt64BigEndian(span[24..], (ulong)payloadLength);
        }
        else
        {
            var span = ReserveWire(NbdWire.StructuredReplyHeaderLength);
            BinaryPrimitives.WriteUInt32BigEndian(span, NbdMagic.StructuredReply);
            BinaryPrimitives.WriteUInt16BigEndian(span[4..], (ushort)flags);
            BinaryPrimitives.WriteUInt16BigEndian(span[6..], (ushort)type);
            BinaryPrimitives.WriteUInt64BigEndian(span[8..], Request.Cookie);
            BinaryPrimitives.WriteUInt32BigEndian(span[16..], checked((uint)payloadLength));
        }
    }

    public void AppendUInt16(ushort value) => BinaryPrimitives.WriteUInt16BigEndian(ReserveWire(2), value);

    public void AppendUInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(ReserveWire(4), value);

    public void AppendUInt64(ulong value) => BinaryPrimitives.WriteUInt64BigEndian(ReserveWire(8), value);

    public void AppendBytes(ReadOnlySpan<byte> bytes) => bytes.CopyTo(ReserveWire(bytes.Length));

    /// <summary>Appends a slice of <see cref="Buffer"/> as reply data.</summary>
    public void AppendBufferData(int start, int length) => AddSegment(new ReplySegment(ReplySegmentKind.Buffer, start, length));

    /// <summary>Appends a range of the export's file, sent with sendfile(2).</summary>
    public void AppendFileData(long offset, long length) => AddSegment(new ReplySegment(ReplySegmentKind.File, offset, length));

    private Span<byte> ReserveWire(int length)
    {
        if (WireLength + length > _wire.Length)
        {
            Array.Resize(ref _wire, Math.Max(_wire.Length * 2, WireLength + length));
        }

        // Consecutive header bytes share one segment, so a reply is as few iovecs as possible.
        if (SegmentCount > 0 && _segments[SegmentCount - 1] is { Kind: ReplySegmentKind.Wire } last && last.Start + last.Length == WireLength)
        {
            _segments[SegmentCount - 1] = last with { Length = last.Length + length };
        }
        else
        {
            AddSegment(new ReplySegment(ReplySegmentKind.Wire, WireLength, length));
        }

        var span = _wire.AsSpan(WireLength, length);
        WireLength += length;
        return span;
    }

    private void AddSegment(in ReplySegment segment)
    {
        if (SegmentCount == _segments.Length)
        {
            Array.Resize(ref _segments, _segments.Length * 2);
        }

        _segments[SegmentCount++] = segment;
    }
}

/// <summary>Where the bytes of one reply segment come from.</summary>
internal enum ReplySegmentKind
{
    Wire,
    Buffer,
    File,
}

/// <summary>A run of reply bytes: a slice of the job's header bytes or data buffer, or a file range.</summary>
internal readonly record struct ReplySegment(ReplySegmentKind Kind, long Start, long Length);
