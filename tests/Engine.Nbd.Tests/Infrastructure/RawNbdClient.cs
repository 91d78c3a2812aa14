using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Tests.Infrastructure;

/// <summary>Which header a reply chunk came with.</summary>
internal enum ReplyKind
{
    Simple,
    Structured,
    Extended,
}

/// <summary>One option reply: the option it answers, the reply type and its data.</summary>
internal sealed record OptionReply(uint Option, uint Type, byte[] Data)
{
    public bool IsError => (Type & 0x8000_0000) != 0;

    public bool IsFinal => IsError || Type == (uint)NbdOptionReply.Ack;

    public override string ToString() => $"option {Option} reply 0x{Type:x8} ({Data.Length} bytes)";
}

/// <summary>One reply message: a simple reply, or one structured/extended chunk.</summary>
internal sealed record ReplyChunk(ReplyKind Kind, ushort Flags, ushort Type, ulong Cookie, ulong HeaderOffset, uint SimpleError, byte[] Payload)
{
    public bool IsDone => Kind == ReplyKind.Simple || (Flags & (ushort)ReplyFlags.Done) != 0;

    public bool IsError => Kind == ReplyKind.Simple ? SimpleError != 0 : (Type & 0x8000) != 0;

    public uint Error => Kind == ReplyKind.Simple
        ? SimpleError
        : IsError && Payload.Length >= 4 ? BinaryPrimitives.ReadUInt32BigEndian(Payload) : 0;

    public string ErrorMessage
    {
        get
        {
            if (Kind == ReplyKind.Simple || !IsError || Payload.Length < 6)
            {
                return "";
            }

            int len = BinaryPrimitives.ReadUInt16BigEndian(Payload.AsSpan(4));
            return Encoding.UTF8.GetString(Payload, 6, Math.Min(len, Payload.Length - 6));
        }
    }

    public override string ToString() =>
        $"{Kind} chunk cookie={Cookie} type={Type} flags={Flags} offset={HeaderOffset} error={Error} payload={Payload.Length}";
}

/// <summary>All chunks of one reply, in arrival order.</summary>
internal sealed class RawReply(ulong cookie, List<ReplyChunk> chunks)
{
    public ulong Cookie { get; } = cookie;

    public IReadOnlyList<ReplyChunk> Chunks { get; } = chunks;

    public bool IsSimple => Chunks.Count == 1 && Chunks[0].Kind == ReplyKind.Simple;

    /// <summary>The first error in the reply, 0 for success.</summary>
    public uint Error => Chunks.FirstOrDefault(c => c.IsError)?.Error ?? 0;

    public override string ToString() => $"reply cookie={Cookie}: " + string.Join("; ", Chunks);

    /// <summary>
    /// Rebuilds the data of a successful READ of <c>[offset, offset+length)</c>, checking the spec's rules: content
    /// chunks lie inside the request, do not overlap, cover it exactly, and only the last chunk has DONE.
    /// </summary>
    public byte[] ReassembleRead(ulong offset, int length)
    {
        Assert.Equal(0u, Error);
        if (IsSimple)
        {
            Assert.Equal(length, Chunks[0].Payload.Length);
            return Chunks[0].Payload;
        }

        var data = new byte[length];
        var covered = new bool[length];
        for (var i = 0; i < Chunks.Count; i++)
        {
            var chunk = Chunks[i];
            Assert.True(chunk.Kind != ReplyKind.Simple, "simple reply mixed into a structured reply");
            Assert.Equal(i == Chunks.Count - 1, chunk.IsDone);
            switch ((NbdReplyType)chunk.Type)
            {
                case NbdReplyType.None:
                    Assert.Empty(chunk.Payload);
                    Assert.True(chunk.IsDone, "NONE chunk without DONE");
                    break;
                case NbdReplyType.OffsetData:
                {
                    Assert.True(chunk.Payload.Length >= 9, $"OFFSET_DATA payload of {chunk.Payload.Length} bytes");
                    var at = BinaryPrimitives.ReadUInt64BigEndian(chunk.Payload);
                    var n = chunk.Payload.Length - 8;
                    var rel = CheckRange(offset, length, at, (ulong)n, covered);
                    chunk.Payload.AsSpan(8).CopyTo(data.AsSpan(rel));
                    break;
                }

                case NbdReplyType.OffsetHole:
                {
                    Assert.Equal(12, chunk.Payload.Length);
                    var at = BinaryPrimitives.ReadUInt64BigEndian(chunk.Payload);
                    var n = BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload.AsSpan(8));
                    Assert.NotEqual(0u, n);
                    CheckRange(offset, length, at, n, covered);
                    break;
                }

                default:
                    Assert.Fail($"unexpected chunk type {chunk.Type} in a READ reply");
                    break;
            }
        }

        var gap = Array.IndexOf(covered, false);
        Assert.True(gap < 0, $"READ reply leaves byte {gap} of {length} uncovered");
        return data;
    }

    /// <summary>The content chunks of a READ as (type, offset, length), for tests about holes.</summary>
    public List<(NbdReplyType Type, ulong Offset, ulong Length)> ContentChunks()
    {
        var list = new List<(NbdReplyType, ulong, ulong)>();
        foreach (var c in Chunks)
        {
            if (c.Type == (ushort)NbdReplyType.OffsetData && c.Kind != ReplyKind.Simple)
            {
                list.Add((NbdReplyType.OffsetData, BinaryPrimitives.ReadUInt64BigEndian(c.Payload), (ulong)c.Payload.Length - 8));
            }
            else if (c.Type == (ushort)NbdReplyType.OffsetHole && c.Kind != ReplyKind.Simple)
            {
                list.Add((NbdReplyType.OffsetHole, BinaryPrimitives.ReadUInt64BigEndian(c.Payload), BinaryPrimitives.ReadUInt32BigEndian(c.Payload.AsSpan(8))));
            }
        }

        return list;
    }

    /// <summary>Block status chunks (compact or extended) as context id → descriptors (length, status).</summary>
    public Dictionary<uint, List<(ulong Length, uint Status)>> BlockStatus()
    {
        var result = new Dictionary<uint, List<(ulong, uint)>>();
        foreach (var c in Chunks)
        {
            if (c.Type == (ushort)NbdReplyType.BlockStatus)
            {
                Assert.True(c.Payload.Length >= 12 && (c.Payload.Length - 4) % 8 == 0, $"BLOCK_STATUS payload of {c.Payload.Length} bytes");
                var id = BinaryPrimitives.ReadUInt32BigEndian(c.Payload);
                var list = new List<(ulong, uint)>();
                for (var p = 4; p < c.Payload.Length; p += 8)
                {
                    list.Add((BinaryPrimitives.ReadUInt32BigEndian(c.Payload.AsSpan(p)), BinaryPrimitives.ReadUInt32BigEndian(c.Payload.AsSpan(p + 4))));
                }

                Assert.True(result.TryAdd(id, list), $"two block status chunks for context {id}");
            }
            else if (c.Type == (ushort)NbdReplyType.BlockStatusExtended)
            {
                Assert.True(c.Payload.Length >= 24 && (c.Payload.Length - 8) % 16 == 0, $"BLOCK_STATUS_EXT payload of {c.Payload.Length} bytes");
                var id = BinaryPrimitives.ReadUInt32BigEndian(c.Payload);
                var count = BinaryPrimitives.ReadUInt32BigEndian(c.Payload.AsSpan(4));
                Assert.Equal((c.Payload.Length - 8) / 16, (int)count);
                var list = new List<(ulong, uint)>();
                for (var p = 8; p < c.Payload.Length; p += 16)
                {
                    var status = BinaryPrimitives.ReadUInt64BigEndian(c.Payload.AsSpan(p + 8));
                    Assert.True(status <= uint.MaxValue, $"32-bit context sent status 0x{status:x} with nonzero upper half");
                    list.Add((BinaryPrimitives.ReadUInt64BigEndian(c.Payload.AsSpan(p)), (uint)status));
                }

                Assert.True(result.TryAdd(id, list), $"two block status chunks for context {id}");
            }
        }

        return result;
    }

    private static int CheckRange(ulong offset, int length, ulong at, ulong n, bool[] covered)
    {
        Assert.True(at >= offset && at + n <= offset + (ulong)length && n > 0,
            $"content chunk [{at}, +{n}) outside request [{offset}, +{length})");
        var rel = (int)(at - offset);
        for (var i = rel; i < rel + (int)n; i++)
        {
            Assert.False(covered[i], $"content chunks overlap at {offset + (ulong)i}");
            covered[i] = true;
        }

        return rel;
    }
}

/// <summary>What GO/EXPORT_NAME told us about the export.</summary>
internal sealed record ExportInfo(ulong Size, TransmissionFlags Flags, uint MinBlock, uint PreferredBlock, uint MaxPayload, Dictionary<string, uint> Contexts);

/// <summary>
/// A deliberately dumb NBD client for protocol tests: every step of the handshake is a separate call, requests go out
/// exactly as given, and every receive has a timeout so a misbehaving server fails the test instead of hanging it.
/// </summary>
internal sealed class RawNbdClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly Dictionary<ulong, int> _simpleReadLengths = [];
    private readonly Dictionary<ulong, List<ReplyChunk>> _partial = [];
    private ulong _nextCookie = 0x1000;

    private RawNbdClient(Socket socket, TimeSpan timeout)
    {
        _socket = socket;
        Timeout = timeout;
    }

    public TimeSpan Timeout { get; set; }

    /// <summary>Transmission requests and replies use 32-byte extended headers.</summary>
    public bool ExtendedHeaders { get; set; }

    /// <summary>Structured replies were negotiated (implied by extended headers).</summary>
    public bool StructuredReplies { get; set; }

    public Socket Socket => _socket;

    /// <summary>What the last <see cref="NegotiateAsync"/> learned.</summary>
    public ExportInfo? Export { get; private set; }

    /// <summary>Marks a hand-built READ request whose simple reply carries <paramref name="length"/> data bytes.</summary>
    public void ExpectSimpleRead(ulong cookie, int length) => _simpleReadLengths[cookie] = length;

    public static async Task<RawNbdClient> ConnectAsync(string unixPath, TimeSpan? timeout = null)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(unixPath), cts.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new RawNbdClient(socket, timeout ?? DefaultTimeout);
    }

    public static async Task<RawNbdClient> ConnectTcpAsync(IPEndPoint endPoint, TimeSpan? timeout = null)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
            await socket.ConnectAsync(endPoint, cts.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new RawNbdClient(socket, timeout ?? DefaultTimeout);
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }

    // ---------------------------------------------------------------- raw bytes

    public async Task SendAsync(ReadOnlyMemory<byte> data)
    {
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (!data.IsEmpty)
            {
                var n = await _socket.SendAsync(data, SocketFlags.None, cts.Token);
                data = data[n..];
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"server did not accept {data.Length} more bytes within {Timeout}");
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes; EOF before that throws <see cref="EndOfStreamException"/>.</summary>
    public async Task<byte[]> ReadExactAsync(int count)
    {
        var buffer = new byte[count];
        var done = 0;
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (done < count)
            {
                var n = await _socket.ReceiveAsync(buffer.AsMemory(done), SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    throw new EndOfStreamException($"server closed the connection after {done} of {count} bytes");
                }

                done += n;
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"no reply from server within {Timeout} ({done} of {count} bytes read)");
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            throw new EndOfStreamException($"connection reset after {done} of {count} bytes", ex);
        }

        return buffer;
    }

    /// <summary>
    /// Reads and discards until the server closes the connection. True if it did within <paramref name="timeout"/>
    /// (EOF or reset), false if it kept it open.
    /// </summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        var buffer = new byte[64 << 10];
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        try
        {
            while (true)
            {
                var n = await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    /// <summary>Asserts that the server closes the connection (EOF or reset) without sending anything first.</summary>
    public async Task AssertClosedWithoutDataAsync(TimeSpan? timeout = null)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        try
        {
            var n = await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            Assert.True(n == 0, $"expected the server to close; it sent {n} bytes: {Convert.ToHexString(buffer, 0, Math.Min(n, 64))}");
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            Assert.Fail($"server kept the connection open for {timeout ?? Timeout}");
        }
        catch (SocketException)
        {
            // Reset: closed as well.
        }
    }

    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    // ---------------------------------------------------------------- handshake

    /// <summary>Reads the 18-byte server greeting and returns the handshake flags.</summary>
    public async Task<ushort> ReadGreetingAsync()
    {
        var b = await ReadExactAsync(18);
        Assert.Equal(NbdMagic.InitPassword, BinaryPrimitives.ReadUInt64BigEndian(b));
        Assert.Equal(NbdMagic.IHaveOpt, BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(8)));
        return BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(16));
    }

    public Task SendClientFlagsAsync(uint flags) => SendAsync(Be32(flags));

    /// <summary>Greeting plus client flags (FIXED_NEWSTYLE | NO_ZEROES by default).</summary>
    public async Task StartAsync(uint clientFlags = 3)
    {
        await ReadGreetingAsync();
        await SendClientFlagsAsync(clientFlags);
    }

    public Task SendOptionAsync(uint option, ReadOnlySpan<byte> data) => SendAsync(OptionBytes(option, data));

    public static byte[] OptionBytes(uint option, ReadOnlySpan<byte> data)
    {
        var b = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(b, NbdMagic.IHaveOpt);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), (uint)data.Length);
        data.CopyTo(b.AsSpan(16));
        return b;
    }

    public async Task<OptionReply> ReadOptionReplyAsync()
    {
        var h = await ReadExactAsync(20);
        Assert.Equal(NbdMagic.OptionReply, BinaryPrimitives.ReadUInt64BigEndian(h));
        var option = BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(8));
        var type = BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(12));
        var length = BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(16));
        Assert.True(length <= 1 << 20, $"option reply claims {length} bytes of data");
        var data = length == 0 ? [] : await ReadExactAsync((int)length);
        return new OptionReply(option, type, data);
    }

    /// <summary>Sends an option and reads replies up to and including the final one (ACK or error).</summary>
    public async Task<List<OptionReply>> OptionAsync(uint option, byte[] data)
    {
        await SendOptionAsync(option, data);
        return await ReadOptionRepliesAsync(option);
    }

    public Task<List<OptionReply>> OptionAsync(NbdOption option, byte[]? data = null) => OptionAsync((uint)option, data ?? []);

    public async Task<List<OptionReply>> ReadOptionRepliesAsync(uint option)
    {
        var replies = new List<OptionReply>();
        while (true)
        {
            var reply = await ReadOptionReplyAsync();
            Assert.True(reply.Option == option, $"reply to option {reply.Option}, expected {option}");
            replies.Add(reply);
            if (reply.IsFinal)
            {
                return replies;
            }

            Assert.True(replies.Count < 10_000, "endless option replies");
        }
    }

    /// <summary>
    /// Full negotiation: greeting, flags, optional extended headers / structured replies / meta contexts, then GO
    /// (asking for BLOCK_SIZE) or EXPORT_NAME.
    /// </summary>
    public async Task<ExportInfo> NegotiateAsync(
        string export = "", bool structured = false, bool extended = false, string[]? metaContexts = null, bool useExportName = false)
    {
        await StartAsync();
        if (extended)
        {
            var r = await OptionAsync(NbdOption.ExtendedHeaders);
            Assert.Equal((uint)NbdOptionReply.Ack, Assert.Single(r).Type);
            ExtendedHeaders = true;
            StructuredReplies = true;
        }
        else if (structured)
        {
            var r = await OptionAsync(NbdOption.StructuredReply);
            Assert.Equal((uint)NbdOptionReply.Ack, Assert.Single(r).Type);
            StructuredReplies = true;
        }

        var contexts = new Dictionary<string, uint>(StringComparer.Ordinal);
        if (metaContexts is not null)
        {
            var replies = await OptionAsync(NbdOption.SetMetaContext, NbdData.MetaContextRequest(export, metaContexts));
            Assert.Equal((uint)NbdOptionReply.Ack, replies[^1].Type);
            foreach (var (id, name) in replies.SkipLast(1).Select(NbdData.ParseMetaContext))
            {
                contexts.Add(name, id);
            }
        }

        if (useExportName)
        {
            await SendOptionAsync((uint)NbdOption.ExportName, Encoding.UTF8.GetBytes(export));
            var b = await ReadExactAsync(10);
            return Export = new ExportInfo(BinaryPrimitives.ReadUInt64BigEndian(b), (TransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(8)), 0, 0, 0, contexts);
        }

        var go = await OptionAsync(NbdOption.Go, NbdData.InfoRequest(export, NbdInfo.BlockSize));
        Assert.True(go[^1].Type == (uint)NbdOptionReply.Ack, $"GO failed: {go[^1]}");
        var info = NbdData.ParseInfos(go.SkipLast(1));
        Assert.True(info.TryGetValue(NbdInfo.Export, out var e), "GO without NBD_INFO_EXPORT");
        uint min = 0, pref = 0, max = 0;
        if (info.TryGetValue(NbdInfo.BlockSize, out var bs))
        {
            Assert.Equal(12, bs.Length);
            min = BinaryPrimitives.ReadUInt32BigEndian(bs);
            pref = BinaryPrimitives.ReadUInt32BigEndian(bs.AsSpan(4));
            max = BinaryPrimitives.ReadUInt32BigEndian(bs.AsSpan(8));
        }

        return Export = new ExportInfo(BinaryPrimitives.ReadUInt64BigEndian(e), (TransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(e.AsSpan(8)), min, pref, max, contexts);
    }

    // ---------------------------------------------------------------- transmission

    public ulong NextCookie() => _nextCookie++;

    public static byte[] CompactRequest(ushort flags, ushort type, ulong cookie, ulong offset, uint length)
    {
        var b = new byte[28];
        BinaryPrimitives.WriteUInt32BigEndian(b, NbdMagic.Request);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), type);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(16), offset);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(24), length);
        return b;
    }

    public static byte[] ExtendedRequest(ushort flags, ushort type, ulong cookie, ulong offset, ulong length)
    {
        var b = new byte[32];
        BinaryPrimitives.WriteUInt32BigEndian(b, NbdMagic.ExtendedRequest);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), type);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(16), offset);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(24), length);
        return b;
    }

    /// <summary>
    /// Sends one request in the negotiated header format. In extended mode a WRITE gets PAYLOAD_LEN added and its
    /// length is the payload length. Returns the cookie.
    /// </summary>
    public async Task<ulong> SendRequestAsync(NbdCommand type, CommandFlags flags, ulong offset, ulong length, ReadOnlyMemory<byte> payload = default, ulong? cookie = null)
    {
        var c = cookie ?? NextCookie();
        byte[] header;
        if (ExtendedHeaders)
        {
            if (type == NbdCommand.Write)
            {
                flags |= CommandFlags.PayloadLength;
            }

            header = ExtendedRequest((ushort)flags, (ushort)type, c, offset, length);
        }
        else
        {
            Assert.True(length <= uint.MaxValue, "compact request length over 32 bits");
            header = CompactRequest((ushort)flags, (ushort)type, c, offset, (uint)length);
        }

        await SendRawRequestAsync(header, payload, type == NbdCommand.Read ? (long)length : -1);
        return c;
    }

    /// <summary>Sends prebuilt header bytes plus payload; <paramref name="simpleReadLength"/> ≥ 0 marks a READ whose simple reply carries data.</summary>
    public async Task SendRawRequestAsync(byte[] header, ReadOnlyMemory<byte> payload, long simpleReadLength = -1)
    {
        if (simpleReadLength >= 0 && !StructuredReplies && !ExtendedHeaders)
        {
            var cookie = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8));
            _simpleReadLengths[cookie] = (int)Math.Min(simpleReadLength, int.MaxValue);
        }

        if (payload.Length <= 256 << 10)
        {
            var b = new byte[header.Length + payload.Length];
            header.CopyTo(b, 0);
            payload.CopyTo(b.AsMemory(header.Length));
            await SendAsync(b);
        }
        else
        {
            await SendAsync(header);
            await SendAsync(payload);
        }
    }

    /// <summary>Reads one reply message (a simple reply or a single chunk).</summary>
    public async Task<ReplyChunk> ReadChunkAsync()
    {
        var m = await ReadExactAsync(4);
        var magic = BinaryPrimitives.ReadUInt32BigEndian(m);
        switch (magic)
        {
            case NbdMagic.SimpleReply:
            {
                var h = await ReadExactAsync(12);
                var error = BinaryPrimitives.ReadUInt32BigEndian(h);
                var cookie = BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(4));
                byte[] data = [];
                if (_simpleReadLengths.Remove(cookie, out var len) && error == 0 && len > 0)
                {
                    data = await ReadExactAsync(len);
                }

                return new ReplyChunk(ReplyKind.Simple, 0, 0, cookie, 0, error, data);
            }

            case NbdMagic.StructuredReply:
            {
                var h = await ReadExactAsync(16);
                var length = BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(12));
                Assert.True(length <= 64 << 20, $"structured chunk claims {length} bytes");
                var payload = length == 0 ? [] : await ReadExactAsync((int)length);
                return new ReplyChunk(ReplyKind.Structured, BinaryPrimitives.ReadUInt16BigEndian(h), BinaryPrimitives.ReadUInt16BigEndian(h.AsSpan(2)),
                    BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(4)), 0, 0, payload);
            }

            case NbdMagic.ExtendedReply:
            {
                var h = await ReadExactAsync(28);
                var length = BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(20));
                Assert.True(length <= 64 << 20, $"extended chunk claims {length} bytes");
                var payload = length == 0 ? [] : await ReadExactAsync((int)length);
                return new ReplyChunk(ReplyKind.Extended, BinaryPrimitives.ReadUInt16BigEndian(h), BinaryPrimitives.ReadUInt16BigEndian(h.AsSpan(2)),
                    BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(4)), BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(12)), 0, payload);
            }

            default:
                throw new InvalidDataException($"bad reply magic 0x{magic:x8}");
        }
    }

    /// <summary>Reads chunks until some request's reply is complete and returns it; chunks of other requests are kept.</summary>
    public async Task<RawReply> ReadReplyAsync()
    {
        while (true)
        {
            var chunk = await ReadChunkAsync();
            if (ExtendedHeaders)
            {
                Assert.True(chunk.Kind == ReplyKind.Extended, $"{chunk.Kind} reply after extended headers were negotiated");
            }
            else if (!StructuredReplies)
            {
                Assert.True(chunk.Kind == ReplyKind.Simple, $"{chunk.Kind} reply without structured replies negotiated");
            }
            else
            {
                Assert.True(chunk.Kind != ReplyKind.Extended, "extended reply without extended headers negotiated");
            }

            if (!_partial.TryGetValue(chunk.Cookie, out var list))
            {
                list = [];
                _partial[chunk.Cookie] = list;
            }

            list.Add(chunk);
            if (chunk.IsDone)
            {
                _partial.Remove(chunk.Cookie);
                return new RawReply(chunk.Cookie, list);
            }
        }
    }

    /// <summary>Reads the next complete reply and asserts it is for <paramref name="cookie"/>.</summary>
    public async Task<RawReply> ReadReplyAsync(ulong cookie)
    {
        var reply = await ReadReplyAsync();
        Assert.True(reply.Cookie == cookie, $"expected reply to cookie {cookie}, got {reply}");
        return reply;
    }

    public async Task<RawReply> CommandAsync(NbdCommand type, CommandFlags flags, ulong offset, ulong length, ReadOnlyMemory<byte> payload = default)
    {
        var cookie = await SendRequestAsync(type, flags, offset, length, payload);
        return await ReadReplyAsync(cookie);
    }

    public async Task<byte[]> ReadDataAsync(ulong offset, int length, CommandFlags flags = CommandFlags.None)
    {
        var reply = await CommandAsync(NbdCommand.Read, flags, offset, (ulong)length);
        return reply.ReassembleRead(offset, length);
    }

    public async Task WriteDataAsync(ulong offset, ReadOnlyMemory<byte> data, CommandFlags flags = CommandFlags.None)
    {
        var reply = await CommandAsync(NbdCommand.Write, flags, offset, (ulong)data.Length, data);
        Assert.True(reply.Error == 0, $"WRITE at {offset} failed: {reply}");
    }

    private static byte[] Be32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return b;
    }
}

/// <summary>Builders and parsers for option data.</summary>
internal static class NbdData
{
    public static byte[] InfoRequest(string export, params NbdInfo[] infos)
    {
        var name = Encoding.UTF8.GetBytes(export);
        var b = new byte[4 + name.Length + 2 + (2 * infos.Length)];
        BinaryPrimitives.WriteUInt32BigEndian(b, (uint)name.Length);
        name.CopyTo(b, 4);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4 + name.Length), (ushort)infos.Length);
        for (var i = 0; i < infos.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6 + name.Length + (2 * i)), (ushort)infos[i]);
        }

        return b;
    }

    public static byte[] MetaContextRequest(string export, params string[] queries)
    {
        using var ms = new MemoryStream();
        WriteString(ms, export);
        WriteU32(ms, (uint)queries.Length);
        foreach (var q in queries)
        {
            WriteString(ms, q);
        }

        return ms.ToArray();
    }

    public static (uint Id, string Name) ParseMetaContext(OptionReply reply)
    {
        Assert.Equal((uint)NbdOptionReply.MetaContext, reply.Type);
        Assert.True(reply.Data.Length >= 4);
        return (BinaryPrimitives.ReadUInt32BigEndian(reply.Data), Encoding.UTF8.GetString(reply.Data, 4, reply.Data.Length - 4));
    }

    /// <summary>NBD_REP_INFO replies keyed by info type (payload after the type).</summary>
    public static Dictionary<NbdInfo, byte[]> ParseInfos(IEnumerable<OptionReply> replies)
    {
        var result = new Dictionary<NbdInfo, byte[]>();
        foreach (var r in replies)
        {
            Assert.Equal((uint)NbdOptionReply.Info, r.Type);
            Assert.True(r.Data.Length >= 2, "NBD_REP_INFO shorter than 2 bytes");
            var type = (NbdInfo)BinaryPrimitives.ReadUInt16BigEndian(r.Data);
            Assert.True(result.TryAdd(type, r.Data[2..]), $"info {type} sent twice");
        }

        return result;
    }

    public static void WriteString(Stream s, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        WriteU32(s, (uint)bytes.Length);
        s.Write(bytes);
    }

    public static void WriteU32(Stream s, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        s.Write(b);
    }

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }
}
