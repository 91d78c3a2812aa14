using System.Buffers.Binary;
using Engine.Blocks.Devices;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Tests.Infrastructure;

namespace Engine.Nbd.Tests;

/// <summary>
/// NBD_OPT_EXTENDED_HEADERS: 32-byte requests and 32-byte reply chunks with 64-bit lengths. No Debian client speaks
/// this (libnbd 1.14 predates it), so these tests are the only coverage.
/// </summary>
public sealed class ExtendedHeaderTests
{
    private const int Size = 1 << 20;
    private const long Gi = 1L << 30;
    private const uint EINVAL = (uint)NbdError.Invalid;

    private static NbdTestServer StartServer(long size = Size, NbdServerOptions? options = null)
    {
        var export = new NbdExport("disk", new MemoryBlockDevice(size));
        export.MetaContexts.Register(new FakeDirtyBitmapContext("qemu:dirty-bitmap:b0", size));
        return NbdTestServer.Start(options: options, exports: [export, new NbdExport("ro", new MemoryBlockDevice(Size), readOnly: true)]);
    }

    /// <summary>A payload made of valid extended FLUSH requests: if the server does not consume it, they get answered.</summary>
    private static byte[] RequestLookingPayload(int count)
    {
        var payload = new byte[32 * count];
        var req = RawNbdClient.ExtendedRequest(0, (ushort)NbdCommand.Flush, 0xBAD_BAD, 0, 0);
        for (var i = 0; i < count; i++)
        {
            req.CopyTo(payload, i * 32);
        }

        return payload;
    }

    private static void AssertExtendedChunks(RawReply reply, ulong requestOffset)
    {
        for (var i = 0; i < reply.Chunks.Count; i++)
        {
            var c = reply.Chunks[i];
            Assert.Equal(ReplyKind.Extended, c.Kind);
            Assert.True(c.HeaderOffset == requestOffset, $"chunk {i} header offset {c.HeaderOffset}, request offset {requestOffset}");
            Assert.Equal(i == reply.Chunks.Count - 1, c.IsDone);
        }
    }

    // ------------------------------------------------------------------ negotiation

    [Fact]
    public async Task Negotiation_Ack_ThenStructuredReplyNeedsExtendedHeaders()
    {
        await using var ts = StartServer();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var r = Assert.Single(await client.OptionAsync(NbdOption.ExtendedHeaders));
        Assert.Equal((uint)NbdOptionReply.Ack, r.Type);
        Assert.Empty(r.Data);
        r = Assert.Single(await client.OptionAsync(NbdOption.StructuredReply));
        Assert.Equal((uint)NbdOptionReply.ErrExtendedHeaderRequired, r.Type);

        // Meta contexts are available without STRUCTURED_REPLY: extended headers imply structured replies.
        var set = await client.OptionAsync(NbdOption.SetMetaContext, NbdData.MetaContextRequest("disk", "base:allocation"));
        Assert.Equal(2, set.Count);
        Assert.Equal((uint)Size, await client.NegotiateGoOnlyAsync("disk"));
        client.ExtendedHeaders = client.StructuredReplies = true;
        var flush = await client.CommandAsync(NbdCommand.Flush, CommandFlags.None, 0, 0);
        var chunk = Assert.Single(flush.Chunks);
        Assert.Equal(ReplyKind.Extended, chunk.Kind);
        Assert.Equal((ushort)NbdReplyType.None, chunk.Type);
        Assert.Equal((ushort)ReplyFlags.Done, chunk.Flags);
        Assert.Empty(chunk.Payload);
        Assert.Equal(0ul, chunk.HeaderOffset);
    }

    [Fact]
    public async Task Negotiation_AfterStructuredReply_IsAcked()
    {
        await using var ts = StartServer();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        Assert.Equal((uint)NbdOptionReply.Ack, Assert.Single(await client.OptionAsync(NbdOption.StructuredReply)).Type);
        Assert.Equal((uint)NbdOptionReply.Ack, Assert.Single(await client.OptionAsync(NbdOption.ExtendedHeaders)).Type);
        Assert.Equal((uint)Size, await client.NegotiateGoOnlyAsync("disk"));
        client.ExtendedHeaders = client.StructuredReplies = true;
        Assert.Equal(new byte[512], await client.ReadDataAsync(0, 512));
    }

    [Fact]
    public async Task Negotiation_WithData_IsInvalid_AndNotEnabled()
    {
        await using var ts = StartServer();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        Assert.Equal((uint)NbdOptionReply.ErrInvalid, Assert.Single(await client.OptionAsync(NbdOption.ExtendedHeaders, [0, 0, 0, 0])).Type);
        Assert.Equal((uint)Size, await client.NegotiateGoOnlyAsync("disk"));
        // Still compact requests and simple replies.
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, 0, 512);
        Assert.True(reply.IsSimple);
    }

    [Fact]
    public async Task Negotiation_SetsSendDf()
    {
        await using var ts = StartServer();
        await using var client = await ts.ConnectAsync();
        var info = await client.NegotiateAsync("disk", extended: true);
        Assert.True(info.Flags.HasFlag(TransmissionFlags.SendDf | TransmissionFlags.HasFlags), $"flags {info.Flags}");
    }

    [Fact]
    public async Task ExportName_AfterExtendedHeaders_ClosesTheConnection()
    {
        await using var ts = StartServer();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        Assert.Equal((uint)NbdOptionReply.Ack, Assert.Single(await client.OptionAsync(NbdOption.ExtendedHeaders)).Type);
        await client.SendOptionAsync((uint)NbdOption.ExportName, "disk"u8);
        await client.AssertClosedWithoutDataAsync();
    }

    // ------------------------------------------------------------------ reads and writes

    [Fact]
    public async Task Read_SparseRange_ExtendedDataAndHoleChunks()
    {
        await using var ts = StartServer();
        var d1 = NbdData.Pattern(64 << 10, 21);
        await ts.Device.WriteAsync(320 << 10, d1);
        await using var client = await ts.OpenAsync("disk", extended: true);
        const ulong offset = 128 << 10;
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, offset, 512 << 10);
        AssertExtendedChunks(reply, offset);
        var data = reply.ReassembleRead(offset, 512 << 10);
        var expected = new byte[512 << 10];
        d1.CopyTo(expected, 192 << 10);
        Assert.Equal(expected, data);
        var chunks = reply.ContentChunks();
        Assert.Contains(chunks, c => c.Type == NbdReplyType.OffsetHole);
        Assert.Contains(chunks, c => c.Type == NbdReplyType.OffsetData);
        Assert.All(chunks.Where(c => c.Offset < (320ul << 10) + (64 << 10) && c.Offset + c.Length > 320ul << 10),
            c => Assert.Equal(NbdReplyType.OffsetData, c.Type));
    }

    [Fact]
    public async Task Read_DontFragment_OneDataChunk()
    {
        await using var ts = StartServer();
        var d1 = NbdData.Pattern(4096, 22);
        await ts.Device.WriteAsync(8192, d1);
        await using var client = await ts.OpenAsync("disk", extended: true);
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.DontFragment, 0, 64 << 10);
        AssertExtendedChunks(reply, 0);
        var data = reply.ReassembleRead(0, 64 << 10);
        Assert.Equal(NbdReplyType.OffsetData, Assert.Single(reply.ContentChunks()).Type);
        Assert.Equal(d1, data[8192..12288]);
    }

    [Fact]
    public async Task Write_WithPayloadLen_NoneChunk_ReadsBack()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true);
        var pattern = NbdData.Pattern(100_000, 23);
        const ulong offset = 12_345;
        var cookie = client.NextCookie();
        await client.SendRawRequestAsync(RawNbdClient.ExtendedRequest((ushort)(CommandFlags.PayloadLength | CommandFlags.Fua), (ushort)NbdCommand.Write, cookie, offset, (ulong)pattern.Length), pattern);
        var reply = await client.ReadReplyAsync(cookie);
        AssertExtendedChunks(reply, offset);
        var chunk = Assert.Single(reply.Chunks);
        Assert.Equal((ushort)NbdReplyType.None, chunk.Type);
        Assert.Empty(chunk.Payload);
        Assert.Equal(pattern, await client.ReadDataAsync(offset, pattern.Length));
        var back = new byte[pattern.Length];
        await ts.Device.ReadAsync((long)offset, back);
        Assert.Equal(pattern, back);
    }

    [Fact]
    public async Task Write_WithoutPayloadLen_IsEinval()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true);
        // The 32 bytes after the header are a valid FLUSH (cookie 0xF1): whether the server treats them as the
        // write's payload (and skips them) or as the next request, the stream stays parseable.
        var flush = RawNbdClient.ExtendedRequest(0, (ushort)NbdCommand.Flush, 0xF1, 0, 0);
        await client.SendRawRequestAsync(RawNbdClient.ExtendedRequest(0, (ushort)NbdCommand.Write, 0xE1, 0, 32), flush);
        var reply = await client.ReadReplyAsync();
        Assert.Equal(0xE1ul, reply.Cookie);
        Assert.Equal(EINVAL, reply.Error);
        AssertExtendedChunks(reply, 0);

        var read = await client.SendRequestAsync(NbdCommand.Read, CommandFlags.None, 0, 512);
        reply = await client.ReadReplyAsync();
        if (reply.Cookie == 0xF1)
        {
            reply = await client.ReadReplyAsync();
        }

        Assert.Equal(read, reply.Cookie);
        Assert.Equal(new byte[512], reply.ReassembleRead(0, 512));
    }

    [Theory]
    [InlineData((ushort)NbdCommand.Read)]
    [InlineData((ushort)NbdCommand.Flush)]
    [InlineData((ushort)NbdCommand.Trim)]
    [InlineData((ushort)NbdCommand.Cache)]
    [InlineData((ushort)NbdCommand.WriteZeroes)]
    [InlineData((ushort)99)]
    public async Task PayloadLenOnCommandWithoutPayload_IsEinval_PayloadConsumed(ushort command)
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true);
        var pattern = NbdData.Pattern(4096, 24);
        await client.WriteDataAsync(0, pattern);
        var payload = RequestLookingPayload(40);
        await client.SendRawRequestAsync(RawNbdClient.ExtendedRequest((ushort)CommandFlags.PayloadLength, command, 0xE2, 0, (ulong)payload.Length), payload);
        var reply = await client.ReadReplyAsync(0xE2);
        Assert.Equal(EINVAL, reply.Error);
        AssertExtendedChunks(reply, 0);
        await TransmissionTests.AssertInSyncAsync(client);
        // The refused TRIM/WRITE_ZEROES did nothing.
        Assert.Equal(pattern, await client.ReadDataAsync(0, 4096));
    }

    /// <summary>
    /// 2 MiB against a 1 MiB maximum: the main spec says payloads up to 2^25 bytes SHOULD NOT be treated as a denial
    /// of service, so the server should refuse and skip, as it does with compact headers.
    /// </summary>
    [Fact]
    public async Task WriteLargerThanMaxPayload_IsRefused_PayloadConsumed()
    {
        await using var ts = StartServer(size: 8 << 20, options: new NbdServerOptions { MaxPayload = 1 << 20 });
        await using var client = await ts.OpenAsync("disk", extended: true);
        var payload = RequestLookingPayload((2 << 20) / 32);
        var reply = await client.CommandAsync(NbdCommand.Write, CommandFlags.None, 0, (ulong)payload.Length, payload);
        Assert.NotEqual(0u, reply.Error);
        AssertExtendedChunks(reply, 0);
        await TransmissionTests.AssertInSyncAsync(client);
    }

    /// <summary>An absurd payload claim (2^40) may be answered with an error or a hard disconnect, but quickly.</summary>
    [Fact]
    public async Task WriteWithAbsurdPayloadLen_ErrorOrDisconnect_Promptly()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true);
        await client.SendRawRequestAsync(RawNbdClient.ExtendedRequest((ushort)CommandFlags.PayloadLength, (ushort)NbdCommand.Write, 0xE4, 0, 1ul << 40), new byte[4096]);
        client.Timeout = TimeSpan.FromSeconds(3);
        try
        {
            var reply = await client.ReadReplyAsync(0xE4);
            Assert.NotEqual(0u, reply.Error);
        }
        catch (EndOfStreamException)
        {
        }
    }

    // ------------------------------------------------------------------ block status

    [Fact]
    public async Task BlockStatus_IsExtendedChunkPerContext()
    {
        await using var ts = StartServer();
        await ts.Device.WriteAsync(64 << 10, NbdData.Pattern(64 << 10, 25));
        await using var client = await ts.OpenAsync("disk", extended: true, metaContexts: ["base:allocation", "qemu:dirty-bitmap:b0"]);
        var ids = client.Export!.Contexts;
        Assert.Equal(2, ids.Count);

        const ulong offset = 32 << 10;
        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, offset, 256 << 10);
        AssertExtendedChunks(reply, offset);
        Assert.All(reply.Chunks.Where(c => !c.IsDone || c.Type != (ushort)NbdReplyType.None),
            c => Assert.Equal((ushort)NbdReplyType.BlockStatusExtended, c.Type));
        var status = reply.BlockStatus();
        Assert.Equal(ids.Values.Order(), status.Keys.Order());

        var alloc = status[ids["base:allocation"]];
        Assert.Equal((32ul << 10, 3u), alloc[0]);
        Assert.Equal((64ul << 10, 0u), alloc[1]);
        Assert.Equal(3u, alloc[2].Status);

        var bitmap = status[ids["qemu:dirty-bitmap:b0"]];
        Assert.Equal((32ul << 10, 0u), bitmap[0]);
        Assert.Equal((64ul << 10, 1u), bitmap[1]);
        Assert.Equal((64ul << 10, 0u), bitmap[2]);
    }

    [Fact]
    public async Task BlockStatus_ReqOne_OneDescriptor()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true, metaContexts: ["base:allocation", "qemu:dirty-bitmap:b0"]);
        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.ReqOne, 4096, 512 << 10);
        AssertExtendedChunks(reply, 4096);
        var status = reply.BlockStatus();
        Assert.Equal(2, status.Count);
        foreach (var list in status.Values)
        {
            var (len, _) = Assert.Single(list);
            Assert.True(len is > 0 and <= 512 << 10, $"descriptor length {len}");
        }
    }

    // ------------------------------------------------------------------ 64-bit effect lengths

    [Fact]
    public async Task SixtyFourBitLengths_OnSixteenGiBSparseDevice()
    {
        await using var ts = StartServer(size: 16 * Gi);
        await using var client = await ts.OpenAsync("disk", extended: true, metaContexts: ["base:allocation"]);
        Assert.Equal(16ul * Gi, client.Export!.Size);
        var pattern = NbdData.Pattern(8192, 26);
        await client.WriteDataAsync((ulong)(12 * Gi), pattern);
        await client.WriteDataAsync((ulong)(2 * Gi), pattern);

        // BLOCK_STATUS over all 16 GiB: descriptor lengths beyond 32 bits.
        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, (ulong)(4 * Gi), (ulong)(12 * Gi));
        AssertExtendedChunks(reply, (ulong)(4 * Gi));
        var list = Assert.Single(reply.BlockStatus()).Value;
        Assert.Equal(3u, list[0].Status);
        Assert.Equal((ulong)(8 * Gi), list[0].Length);
        Assert.Equal(((ulong)MemoryBlockDevice.PageSize, 0u), list[1]); // the device allocates whole pages

        reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.ReqOne, (ulong)(4 * Gi), (ulong)(6 * Gi));
        var one = Assert.Single(Assert.Single(reply.BlockStatus()).Value);
        Assert.Equal(3u, one.Status);
        Assert.True(one.Length is > 0 and <= 6ul << 30, $"REQ_ONE descriptor of {one.Length} bytes");

        // TRIM of 6 GiB covering the data at 2 GiB (content afterwards unspecified; the reply must succeed).
        reply = await client.CommandAsync(NbdCommand.Trim, CommandFlags.None, 0, (ulong)(6 * Gi));
        AssertExtendedChunks(reply, 0);
        Assert.Equal(0u, reply.Error);

        // WRITE_ZEROES of 5 GiB ending inside the data at 12 GiB.
        const long zeroStart = (12 * Gi) + 4096 - (5 * Gi);
        reply = await client.CommandAsync(NbdCommand.WriteZeroes, CommandFlags.None, zeroStart, (ulong)(5 * Gi));
        AssertExtendedChunks(reply, zeroStart);
        Assert.Equal(0u, reply.Error);
        var back = await client.ReadDataAsync((ulong)(12 * Gi), 8192);
        Assert.Equal(new byte[4096], back[..4096]);
        Assert.Equal(pattern[4096..], back[4096..]);

        reply = await client.CommandAsync(NbdCommand.WriteZeroes, CommandFlags.FastZero, Gi, (ulong)(8 * Gi));
        Assert.True(reply.Error is 0 or (uint)NbdError.NotSupported, $"fast zero: {reply}");

        // Past the end with a 64-bit length.
        reply = await client.CommandAsync(NbdCommand.WriteZeroes, CommandFlags.None, (ulong)(12 * Gi), (ulong)(5 * Gi));
        Assert.Equal((uint)NbdError.NoSpace, reply.Error);
        reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, (ulong)(12 * Gi), ulong.MaxValue - (ulong)Gi);
        Assert.Equal(EINVAL, reply.Error);
        await TransmissionTests.AssertInSyncAsync(client);
    }

    [Fact]
    public async Task ReadLongerThan4GiB_OfHoles_CoversOrRefuses()
    {
        await using var ts = StartServer(size: 16 * Gi);
        await using var client = await ts.OpenAsync("disk", extended: true);
        const ulong length = (5ul << 30) + 4096;
        var cookie = await client.SendRequestAsync(NbdCommand.Read, CommandFlags.None, 0, length);
        var intervals = new List<(ulong Start, ulong End)>();
        long dataBytes = 0;
        while (true)
        {
            var c = await client.ReadChunkAsync();
            Assert.Equal(cookie, c.Cookie);
            Assert.Equal(ReplyKind.Extended, c.Kind);
            Assert.Equal(0ul, c.HeaderOffset);
            if (c.IsError)
            {
                Assert.True(c.Error is EINVAL or (uint)NbdError.Overflow, $"error {c.Error}");
                Assert.Empty(intervals);
            }
            else if (c.Type == (ushort)NbdReplyType.OffsetHole)
            {
                var at = BinaryPrimitives.ReadUInt64BigEndian(c.Payload);
                intervals.Add((at, at + BinaryPrimitives.ReadUInt32BigEndian(c.Payload.AsSpan(8))));
            }
            else if (c.Type == (ushort)NbdReplyType.OffsetData)
            {
                var at = BinaryPrimitives.ReadUInt64BigEndian(c.Payload);
                intervals.Add((at, at + (ulong)c.Payload.Length - 8));
                dataBytes += c.Payload.Length - 8;
                Assert.True(dataBytes < 64 << 20, "server sends gigabytes of zeroes for a sparse device");
            }

            if (c.IsDone)
            {
                if (!c.IsError)
                {
                    intervals.Sort();
                    ulong at = 0;
                    foreach (var (s, e) in intervals)
                    {
                        Assert.Equal(at, s);
                        at = e;
                    }

                    Assert.Equal(length, at);
                }

                break;
            }
        }

        await TransmissionTests.AssertInSyncAsync(client);
    }

    // ------------------------------------------------------------------ errors

    [Fact]
    public async Task ReadPastEnd_IsExtendedErrorChunk()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true);
        const ulong offset = Size - 512;
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, offset, 1024);
        AssertExtendedChunks(reply, offset);
        var error = reply.Chunks.First(c => c.IsError);
        Assert.True(error.Type is (ushort)NbdReplyType.Error or (ushort)NbdReplyType.ErrorOffset, $"type {error.Type}");
        Assert.Equal(EINVAL, error.Error);
        Assert.True(error.Payload.Length >= 6);
        var messageLength = BinaryPrimitives.ReadUInt16BigEndian(error.Payload.AsSpan(4));
        Assert.True(messageLength <= error.Payload.Length - 6);
        Assert.DoesNotContain(reply.Chunks, c => c.Type is (ushort)NbdReplyType.OffsetData or (ushort)NbdReplyType.OffsetHole);
        await TransmissionTests.AssertInSyncAsync(client);
    }

    [Fact]
    public async Task WritePastEnd_IsEnospcChunk_PayloadConsumed()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true);
        var payload = RequestLookingPayload(64);
        const ulong offset = Size - 1024;
        var reply = await client.CommandAsync(NbdCommand.Write, CommandFlags.None, offset, (ulong)payload.Length, payload);
        AssertExtendedChunks(reply, offset);
        Assert.Equal((uint)NbdError.NoSpace, reply.Error);
        await TransmissionTests.AssertInSyncAsync(client);
    }

    [Fact]
    public async Task WriteToReadOnly_IsEpermChunk_PayloadConsumed()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("ro", extended: true);
        var payload = RequestLookingPayload(16);
        var reply = await client.CommandAsync(NbdCommand.Write, CommandFlags.None, 0, (ulong)payload.Length, payload);
        AssertExtendedChunks(reply, 0);
        Assert.Equal((uint)NbdError.Perm, reply.Error);
        await TransmissionTests.AssertInSyncAsync(client);
    }

    [Theory]
    [InlineData((ushort)99, (ushort)0)]
    [InlineData((ushort)NbdCommand.Read, (ushort)0x8000)]
    [InlineData((ushort)NbdCommand.Flush, (ushort)CommandFlags.ReqOne)]
    public async Task UnknownCommandOrFlag_IsEinvalChunk(ushort command, ushort flags)
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true);
        await client.SendRawRequestAsync(RawNbdClient.ExtendedRequest(flags, command, 0xE3, 4096, 512), default);
        var reply = await client.ReadReplyAsync(0xE3);
        AssertExtendedChunks(reply, 4096);
        Assert.Equal(EINVAL, reply.Error);
        await TransmissionTests.AssertInSyncAsync(client);
    }

    [Fact]
    public async Task BlockStatusWithoutContext_IsEinvalChunk()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true);
        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, 0, 4096);
        AssertExtendedChunks(reply, 0);
        Assert.Equal(EINVAL, reply.Error);
    }

    [Theory]
    [InlineData((ushort)NbdCommand.Flush, (ushort)CommandFlags.None)]
    [InlineData((ushort)NbdCommand.Trim, (ushort)CommandFlags.Fua)]
    [InlineData((ushort)NbdCommand.Cache, (ushort)CommandFlags.None)]
    [InlineData((ushort)NbdCommand.WriteZeroes, (ushort)CommandFlags.NoHole)]
    public async Task SuccessWithoutPayload_IsNoneChunkWithDone(ushort commandValue, ushort flagsValue)
    {
        // The protocol enums are internal to Engine.Nbd, so the public theory takes their wire values.
        var command = (NbdCommand)commandValue;
        var flags = (CommandFlags)flagsValue;
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true);
        var offset = command == NbdCommand.Flush ? 0ul : 8192ul;
        var length = command == NbdCommand.Flush ? 0ul : 8192ul;
        var reply = await client.CommandAsync(command, flags, offset, length);
        var chunk = Assert.Single(reply.Chunks);
        Assert.Equal(ReplyKind.Extended, chunk.Kind);
        Assert.Equal((ushort)NbdReplyType.None, chunk.Type);
        Assert.Equal((ushort)ReplyFlags.Done, chunk.Flags);
        Assert.Equal(offset, chunk.HeaderOffset);
        Assert.Empty(chunk.Payload);
    }

    // ------------------------------------------------------------------ pipelining and disconnect

    [Fact]
    public async Task Pipelining_MixedExtendedRequests()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", extended: true, metaContexts: ["base:allocation"]);
        var batch = new List<byte>();
        var offsets = new Dictionary<ulong, ulong>();
        for (var i = 0; i < 64; i++)
        {
            var cookie = (ulong)(uint)i | 0xAB00_0000_0000_0000ul;
            var offset = (ulong)i * 16384;
            offsets[cookie] = offset;
            switch (i % 4)
            {
                case 0:
                    batch.AddRange(RawNbdClient.ExtendedRequest((ushort)CommandFlags.PayloadLength, (ushort)NbdCommand.Write, cookie, offset, 4096));
                    batch.AddRange(NbdData.Pattern(4096, i));
                    break;
                case 1:
                    batch.AddRange(RawNbdClient.ExtendedRequest(0, (ushort)NbdCommand.Read, cookie, offset, 4096));
                    break;
                case 2:
                    batch.AddRange(RawNbdClient.ExtendedRequest(0, (ushort)NbdCommand.BlockStatus, cookie, offset, 4096));
                    break;
                default:
                    batch.AddRange(RawNbdClient.ExtendedRequest(0, (ushort)NbdCommand.WriteZeroes, cookie, offset, 4096));
                    break;
            }
        }

        batch.AddRange(RawNbdClient.ExtendedRequest(0, (ushort)NbdCommand.Disconnect, 0xD15C, 0, 0));
        await client.SendAsync(batch.ToArray());
        var seen = new HashSet<ulong>();
        for (var i = 0; i < 64; i++)
        {
            var reply = await client.ReadReplyAsync();
            Assert.True(seen.Add(reply.Cookie), $"cookie {reply.Cookie:x} twice");
            Assert.True(offsets.TryGetValue(reply.Cookie, out var offset), $"unknown cookie {reply.Cookie:x}");
            AssertExtendedChunks(reply, offset);
            Assert.Equal(0u, reply.Error);
        }

        await client.AssertClosedWithoutDataAsync();
    }
}
