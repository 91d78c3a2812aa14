using Engine.Blocks.Devices;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Tests.Infrastructure;

namespace Engine.Nbd.Tests;

/// <summary>Transmission phase with compact (28-byte) request headers: simple and structured replies.</summary>
public sealed class TransmissionTests
{
    private const int Size = 1 << 20;
    private const uint EPERM = (uint)NbdError.Perm;
    private const uint EINVAL = (uint)NbdError.Invalid;
    private const uint ENOSPC = (uint)NbdError.NoSpace;

    private static NbdTestServer StartServer(NbdServerOptions? options = null) => NbdTestServer.Start(
        options: options,
        exports:
        [
            new NbdExport("disk", new MemoryBlockDevice(Size)),
            new NbdExport("ro", new MemoryBlockDevice(Size), readOnly: true),
        ]);

    /// <summary>Checks the connection is still in sync: a FLUSH gets exactly its own successful reply.</summary>
    internal static async Task AssertInSyncAsync(RawNbdClient client)
    {
        var cookie = await client.SendRequestAsync(NbdCommand.Flush, CommandFlags.None, 0, 0, cookie: 0xC0FFEE_0000_0001);
        var reply = await client.ReadReplyAsync();
        Assert.True(reply.Cookie == cookie && reply.Error == 0, $"connection out of sync: expected a FLUSH reply, got {reply}");
    }

    [Fact]
    public async Task SimpleRead_Is16ByteHeaderThenData()
    {
        await using var ts = StartServer();
        var pattern = NbdData.Pattern(8192, 1);
        await ts.Device.WriteAsync(4096, pattern);
        await using var client = await ts.OpenAsync("disk");
        await client.SendAsync(RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Read, 0xFEDC_BA98_7654_3210, 4096, 8192));
        var raw = await client.ReadExactAsync(16 + 8192);
        Assert.Equal("67446698" + "00000000" + "FEDCBA9876543210", Convert.ToHexString(raw, 0, 16));
        Assert.Equal(pattern, raw[16..]);
    }

    [Fact]
    public async Task SimpleWrite_ReplyIs16Bytes_AndDataLands()
    {
        await using var ts = StartServer();
        var pattern = NbdData.Pattern(4096, 2);
        await using var client = await ts.OpenAsync("disk");
        await client.SendAsync((byte[])[.. RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Write, 42, 65536, 4096), .. pattern]);
        Assert.Equal("67446698" + "00000000" + "000000000000002A", Convert.ToHexString(await client.ReadExactAsync(16)));
        var back = new byte[4096];
        await ts.Device.ReadAsync(65536, back);
        Assert.Equal(pattern, back);
    }

    [Fact]
    public async Task StructuredRead_SparseRange_HolesAndData_CoverExactly()
    {
        await using var ts = StartServer();
        var d1 = NbdData.Pattern(64 << 10, 3);
        var d2 = NbdData.Pattern(4096, 4);
        await ts.Device.WriteAsync(64 << 10, d1);
        await ts.Device.WriteAsync(512 << 10, d2);
        var expected = new byte[Size];
        d1.CopyTo(expected, 64 << 10);
        d2.CopyTo(expected, 512 << 10);

        await using var client = await ts.OpenAsync("disk", structured: true);
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, 0, Size);
        Assert.All(reply.Chunks, c => Assert.Equal(ReplyKind.Structured, c.Kind));
        Assert.Equal(expected, reply.ReassembleRead(0, Size));

        var chunks = reply.ContentChunks();
        // The written data comes as OFFSET_DATA; the untouched [256K, 512K) only as OFFSET_HOLE.
        Assert.All(chunks.Where(c => c.Offset < (512ul << 10) && c.Offset + c.Length > 256ul << 10),
            c => Assert.Equal(NbdReplyType.OffsetHole, c.Type));
        Assert.All(chunks.Where(c => c.Offset < (128ul << 10) && c.Offset + c.Length > 64ul << 10),
            c => Assert.Equal(NbdReplyType.OffsetData, c.Type));
        Assert.Contains(chunks, c => c.Type == NbdReplyType.OffsetHole);
    }

    [Fact]
    public async Task StructuredRead_EntirelyHole_HasNoDataChunk()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured: true);
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, 128 << 10, 256 << 10);
        Assert.Equal(new byte[256 << 10], reply.ReassembleRead(128 << 10, 256 << 10));
        Assert.All(reply.ContentChunks(), c => Assert.Equal(NbdReplyType.OffsetHole, c.Type));
    }

    [Fact]
    public async Task StructuredRead_DontFragment_IsOneDataChunk()
    {
        await using var ts = StartServer();
        var d1 = NbdData.Pattern(4096, 5);
        await ts.Device.WriteAsync(200 << 10, d1);
        await using var client = await ts.OpenAsync("disk", structured: true);
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.DontFragment, 128 << 10, 64 << 10 << 1);
        var data = reply.ReassembleRead(128 << 10, 128 << 10);
        var (type, offset, length) = Assert.Single(reply.ContentChunks());
        Assert.Equal(NbdReplyType.OffsetData, type);
        Assert.Equal(128ul << 10, offset);
        Assert.Equal(128ul << 10, length);
        Assert.Equal(d1, data.AsSpan(72 << 10, 4096).ToArray());
    }

    [Fact]
    public async Task DontFragment_WithoutStructuredReplies_IsInvalid()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk");
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.DontFragment, 0, 4096);
        Assert.Equal(EINVAL, reply.Error);
        await AssertInSyncAsync(client);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Write_Fua_Flush_Cache_RoundTrip(bool structured)
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured);
        var pattern = NbdData.Pattern(12345, 6);
        await client.WriteDataAsync(1000, pattern, CommandFlags.Fua);
        await client.WriteDataAsync(300_000, pattern);
        Assert.Equal(0u, (await client.CommandAsync(NbdCommand.Flush, CommandFlags.None, 0, 0)).Error);
        Assert.Equal(0u, (await client.CommandAsync(NbdCommand.Cache, CommandFlags.None, 0, 64 << 10)).Error);
        Assert.Equal(pattern, await client.ReadDataAsync(1000, pattern.Length));
        Assert.Equal(pattern, await client.ReadDataAsync(300_000, pattern.Length));
        // Unaligned read straddling written and unwritten bytes.
        var mixed = await client.ReadDataAsync(900, 200);
        Assert.Equal(new byte[100], mixed[..100]);
        Assert.Equal(pattern[..100], mixed[100..]);
    }

    [Fact]
    public async Task Trim_Succeeds_AndWritesStillWork()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured: true, metaContexts: ["base:allocation"]);
        var pattern = NbdData.Pattern(128 << 10, 7);
        await client.WriteDataAsync(0, pattern);
        Assert.Equal(0u, (await client.CommandAsync(NbdCommand.Trim, CommandFlags.None, 0, 128 << 10)).Error);
        Assert.Equal(0u, (await client.CommandAsync(NbdCommand.Trim, CommandFlags.Fua, 0, Size)).Error);
        // Content after TRIM is unspecified; a write afterwards must read back.
        await client.WriteDataAsync(4096, pattern.AsMemory(0, 4096));
        Assert.Equal(pattern[..4096], await client.ReadDataAsync(4096, 4096));
    }

    [Theory]
    [InlineData((ushort)CommandFlags.None)]
    [InlineData((ushort)CommandFlags.NoHole)]
    [InlineData((ushort)(CommandFlags.Fua | CommandFlags.NoHole))]
    [InlineData((ushort)CommandFlags.FastZero)]
    [InlineData((ushort)(CommandFlags.FastZero | CommandFlags.NoHole))]
    public async Task WriteZeroes_ReadsBackZero(ushort flagsValue)
    {
        // CommandFlags is internal to Engine.Nbd, so the public theory takes its wire value.
        var flags = (CommandFlags)flagsValue;
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured: true);
        var pattern = NbdData.Pattern(256 << 10, 8);
        await client.WriteDataAsync(0, pattern);
        var reply = await client.CommandAsync(NbdCommand.WriteZeroes, flags, 4096, 128 << 10);
        if (flags.HasFlag(CommandFlags.FastZero) && reply.Error == (uint)NbdError.NotSupported)
        {
            // A fast-zero refusal must leave the data alone.
            Assert.Equal(pattern, await client.ReadDataAsync(0, pattern.Length));
            return;
        }

        Assert.True(reply.Error == 0, $"WRITE_ZEROES {flags}: {reply}");
        var back = await client.ReadDataAsync(0, pattern.Length);
        Assert.Equal(pattern[..4096], back[..4096]);
        Assert.Equal(new byte[128 << 10], back[4096..((128 << 10) + 4096)]);
        Assert.Equal(pattern[((128 << 10) + 4096)..], back[((128 << 10) + 4096)..]);
    }

    [Fact]
    public async Task BlockStatus_BaseAllocation_DescribesHolesAndData()
    {
        await using var ts = StartServer();
        await ts.Device.WriteAsync(128 << 10, NbdData.Pattern(64 << 10, 9));
        await using var client = await ts.OpenAsync("disk", structured: true, metaContexts: ["base:allocation"]);
        var id = Assert.Single(client.Export!.Contexts).Value;
        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, 0, Size);
        Assert.Equal(0u, reply.Error);
        var extents = Assert.Single(reply.BlockStatus());
        Assert.Equal(id, extents.Key);
        var list = extents.Value;
        ulong sumBeforeLast = 0;
        for (var i = 0; i < list.Count - 1; i++)
        {
            sumBeforeLast += list[i].Length;
        }

        Assert.True(sumBeforeLast < Size, "descriptors continue past the requested length");
        Assert.All(list, e => Assert.True(e.Length > 0));
        Assert.Equal(3u, StatusAt(list, 0));
        Assert.Equal(3u, StatusAt(list, (128 << 10) - 1));
        Assert.Equal(0u, StatusAt(list, 128 << 10));
        Assert.Equal(0u, StatusAt(list, (192 << 10) - 1));
        Assert.Equal(3u, StatusAt(list, 192 << 10));
    }

    [Fact]
    public async Task BlockStatus_ReqOne_IsExactlyOneDescriptorWithinRequest()
    {
        await using var ts = StartServer();
        await ts.Device.WriteAsync(128 << 10, NbdData.Pattern(64 << 10, 10));
        await using var client = await ts.OpenAsync("disk", structured: true, metaContexts: ["base:allocation"]);

        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.ReqOne, 0, Size);
        var (len, status) = Assert.Single(Assert.Single(reply.BlockStatus()).Value);
        Assert.True(len is > 0 and <= 128 << 10, $"length {len}");
        Assert.Equal(3u, status);

        reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.ReqOne, 130 << 10, 8192);
        (len, status) = Assert.Single(Assert.Single(reply.BlockStatus()).Value);
        Assert.True(len is > 0 and <= 8192, $"length {len}");
        Assert.Equal(0u, status);

        // Unaligned, at the very end of the device.
        reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.ReqOne, Size - 100, 100);
        (len, _) = Assert.Single(Assert.Single(reply.BlockStatus()).Value);
        Assert.True(len is > 0 and <= 100, $"length {len}");
    }

    [Fact]
    public async Task BlockStatus_WithoutMetaContext_IsInvalid()
    {
        await using var ts = StartServer();
        await using (var structured = await ts.OpenAsync("disk", structured: true))
        {
            var reply = await structured.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, 0, 4096);
            Assert.Equal(EINVAL, reply.Error);
            await AssertInSyncAsync(structured);
        }

        await using var simple = await ts.OpenAsync("disk");
        var r = await simple.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, 0, 4096);
        Assert.True(r.IsSimple);
        Assert.Equal(EINVAL, r.Error);
        await AssertInSyncAsync(simple);
    }

    [Fact]
    public async Task BlockStatus_EmptySelection_IsInvalid()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured: true, metaContexts: []);
        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, 0, 4096);
        Assert.Equal(EINVAL, reply.Error);
    }

    [Theory]
    [InlineData(false, (ulong)Size - 512, 1024u)]
    [InlineData(false, (ulong)Size, 1u)]
    [InlineData(false, ulong.MaxValue - 511, 1024u)] // offset + length wraps around 2^64
    [InlineData(false, 1ul << 63, 512u)]
    [InlineData(true, (ulong)Size - 512, 1024u)]
    [InlineData(true, ulong.MaxValue - 511, 1024u)]
    public async Task ReadPastEnd_IsEinval_AndConnectionContinues(bool structured, ulong offset, uint length)
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured);
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, offset, length);
        Assert.Equal(EINVAL, reply.Error);
        if (structured)
        {
            Assert.All(reply.Chunks, c => Assert.Equal(ReplyKind.Structured, c.Kind));
            Assert.DoesNotContain(reply.Chunks, c => c.Type is (ushort)NbdReplyType.OffsetData or (ushort)NbdReplyType.OffsetHole);
        }
        else
        {
            Assert.Empty(reply.Chunks[0].Payload);
        }

        await AssertInSyncAsync(client);
    }

    /// <summary>A payload that is itself a stream of valid FLUSH requests: if the server fails to drain it, they get answered.</summary>
    private static byte[] RequestLookingPayload(int length)
    {
        var payload = new byte[length];
        var req = RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Flush, 0xBAD_BAD, 0, 0);
        for (var i = 0; i + 28 <= length; i += 28)
        {
            req.CopyTo(payload, i);
        }

        return payload;
    }

    [Theory]
    [InlineData(false, (ulong)Size - 512, 1024)]
    [InlineData(false, (ulong)Size, 28 * 100)]
    [InlineData(true, ulong.MaxValue - 511, 1024)]
    [InlineData(true, 1ul << 63, 28 * 10)]
    public async Task WritePastEnd_IsEnospc_PayloadDrained(bool structured, ulong offset, int length)
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured);
        var reply = await client.CommandAsync(NbdCommand.Write, CommandFlags.None, offset, (ulong)length, RequestLookingPayload(length));
        Assert.Equal(ENOSPC, reply.Error);
        await AssertInSyncAsync(client);
    }

    [Theory]
    [InlineData((ushort)NbdCommand.Write, (ushort)CommandFlags.None)]
    [InlineData((ushort)NbdCommand.Write, (ushort)CommandFlags.Fua)]
    [InlineData((ushort)NbdCommand.Trim, (ushort)CommandFlags.None)]
    [InlineData((ushort)NbdCommand.WriteZeroes, (ushort)CommandFlags.None)]
    [InlineData((ushort)NbdCommand.WriteZeroes, (ushort)CommandFlags.NoHole)]
    public async Task WriteToReadOnly_IsEperm_PayloadDrained(ushort commandValue, ushort flagsValue)
    {
        // The protocol enums are internal to Engine.Nbd, so the public theory takes their wire values.
        var command = (NbdCommand)commandValue;
        var flags = (CommandFlags)flagsValue;
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("ro", structured: true);
        var payload = command == NbdCommand.Write ? RequestLookingPayload(28 * 20) : [];
        var reply = await client.CommandAsync(command, flags, 0, command == NbdCommand.Write ? (ulong)payload.Length : 4096, payload);
        Assert.Equal(EPERM, reply.Error);
        await AssertInSyncAsync(client);
        Assert.Equal(new byte[512], await client.ReadDataAsync(0, 512));
    }

    [Theory]
    [InlineData((ushort)NbdCommand.Trim, (ulong)Size - 512, 1024u, EINVAL)]
    [InlineData((ushort)NbdCommand.WriteZeroes, (ulong)Size - 512, 1024u, ENOSPC)]
    [InlineData((ushort)NbdCommand.BlockStatus, (ulong)Size, 512u, EINVAL)]
    [InlineData((ushort)NbdCommand.Cache, ulong.MaxValue - 511, 1024u, 0u)] // any error
    public async Task OtherCommandsPastEnd_Fail(ushort commandValue, ulong offset, uint length, uint error)
    {
        var command = (NbdCommand)commandValue; // NbdCommand is internal to Engine.Nbd: the public theory takes the wire value
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured: true, metaContexts: ["base:allocation"]);
        var reply = await client.CommandAsync(command, CommandFlags.None, offset, length);
        if (error == 0)
        {
            Assert.NotEqual(0u, reply.Error);
        }
        else
        {
            Assert.Equal(error, reply.Error);
        }

        await AssertInSyncAsync(client);
    }

    [Theory]
    [InlineData(false, (ushort)8)] // RESIZE, not negotiated
    [InlineData(false, (ushort)99)]
    [InlineData(true, (ushort)0xFFFF)]
    public async Task UnknownCommand_IsEinval(bool structured, ushort type)
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured);
        await client.SendAsync(RawNbdClient.CompactRequest(0, type, 77, 0, 512));
        var reply = await client.ReadReplyAsync(77);
        Assert.Equal(EINVAL, reply.Error);
        await AssertInSyncAsync(client);
    }

    [Theory]
    [InlineData((ushort)NbdCommand.Read, (ushort)0x8000)]
    [InlineData((ushort)NbdCommand.Read, (ushort)(1 << 10))]
    [InlineData((ushort)NbdCommand.Read, (ushort)CommandFlags.ReqOne)] // valid only for BLOCK_STATUS
    [InlineData((ushort)NbdCommand.Flush, (ushort)0x4000)]
    [InlineData((ushort)NbdCommand.Trim, (ushort)(1 << 6))]
    [InlineData((ushort)NbdCommand.BlockStatus, (ushort)(1 << 9))]
    [InlineData((ushort)NbdCommand.Read, (ushort)CommandFlags.PayloadLength)] // only meaningful with extended headers
    public async Task UnknownOrInapplicableFlag_IsEinval(ushort commandValue, ushort flags)
    {
        var command = (NbdCommand)commandValue; // NbdCommand is internal to Engine.Nbd: the public theory takes the wire value
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured: true, metaContexts: ["base:allocation"]);
        await client.SendAsync(RawNbdClient.CompactRequest(flags, (ushort)command, 78, 0, 512));
        var reply = await client.ReadReplyAsync(78);
        Assert.Equal(EINVAL, reply.Error);
        await AssertInSyncAsync(client);
    }

    [Fact]
    public async Task WriteWithUnknownFlag_IsEinval_PayloadDrained()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk");
        var payload = RequestLookingPayload(28 * 50);
        await client.SendAsync((byte[])[.. RawNbdClient.CompactRequest(0x0400, (ushort)NbdCommand.Write, 79, 0, (uint)payload.Length), .. payload]);
        Assert.Equal(EINVAL, (await client.ReadReplyAsync(79)).Error);
        await AssertInSyncAsync(client);
        Assert.Equal(new byte[payload.Length], await client.ReadDataAsync(0, payload.Length));
    }

    [Fact]
    public async Task WriteLargerThanMaxPayload_IsRefused_AndConnectionContinues()
    {
        await using var ts = NbdTestServer.Start(size: 8 << 20, options: new NbdServerOptions { MaxPayload = 1 << 20 });
        await using var client = await ts.OpenAsync();
        var payload = RequestLookingPayload(2 << 20);
        var reply = await client.CommandAsync(NbdCommand.Write, CommandFlags.None, 0, (ulong)payload.Length, payload);
        Assert.NotEqual(0u, reply.Error);
        await AssertInSyncAsync(client);
        // Nothing of the refused write landed, and a write at the limit works.
        Assert.Equal(new byte[4096], await client.ReadDataAsync(0, 4096));
        var ok = NbdData.Pattern(1 << 20, 11);
        await client.WriteDataAsync(0, ok);
        Assert.Equal(ok, await client.ReadDataAsync(0, ok.Length));
    }

    [Fact]
    public async Task SimpleReadLargerThanMaxPayload_IsRefused_AndConnectionContinues()
    {
        await using var ts = NbdTestServer.Start(size: 8 << 20, options: new NbdServerOptions { MaxPayload = 1 << 20 });
        await using var client = await ts.OpenAsync();
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, 0, 4 << 20);
        Assert.NotEqual(0u, reply.Error);
        await AssertInSyncAsync(client);
    }

    [Theory]
    [InlineData((ushort)NbdCommand.Read)]
    [InlineData((ushort)NbdCommand.Write)]
    [InlineData((ushort)NbdCommand.Trim)]
    [InlineData((ushort)NbdCommand.WriteZeroes)]
    [InlineData((ushort)NbdCommand.Cache)]
    [InlineData((ushort)NbdCommand.BlockStatus)]
    public async Task ZeroLengthRequests_DoNotDisconnect(ushort commandValue)
    {
        var command = (NbdCommand)commandValue; // NbdCommand is internal to Engine.Nbd: the public theory takes the wire value
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured: true, metaContexts: ["base:allocation"]);
        await client.CommandAsync(command, CommandFlags.None, 4096, 0);
        await AssertInSyncAsync(client);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Pipelining_64Requests_EachCookieAnsweredOnce(bool structured)
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured);
        var batch = new List<byte>();
        var expectedReads = new Dictionary<ulong, byte[]>();
        var cookies = new HashSet<ulong>();
        for (var i = 0; i < 32; i++)
        {
            var data = NbdData.Pattern(4096, 100 + i);
            var w = 0x5000ul + (ulong)i;
            batch.AddRange(RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Write, w, (ulong)i * 8192, 4096));
            batch.AddRange(data);
            cookies.Add(w);
        }

        for (var i = 0; i < 32; i++)
        {
            // Reads of regions no write in this batch touches (writes may be reordered against them).
            var r = 0x6000ul + (ulong)i;
            batch.AddRange(RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Read, r, ((ulong)i * 8192) + 4096, 4096));
            if (!structured)
            {
                client.ExpectSimpleRead(r, 4096);
            }

            expectedReads[r] = new byte[4096];
            cookies.Add(r);
        }

        await client.SendAsync(batch.ToArray());
        var seen = new HashSet<ulong>();
        for (var i = 0; i < 64; i++)
        {
            var reply = await client.ReadReplyAsync();
            Assert.True(seen.Add(reply.Cookie), $"cookie {reply.Cookie} answered twice");
            Assert.Contains(reply.Cookie, cookies);
            Assert.Equal(0u, reply.Error);
            if (expectedReads.TryGetValue(reply.Cookie, out var expected))
            {
                var offset = ((reply.Cookie - 0x6000) * 8192) + 4096;
                Assert.Equal(expected, reply.ReassembleRead(offset, 4096));
            }
        }

        for (var i = 0; i < 32; i++)
        {
            Assert.Equal(NbdData.Pattern(4096, 100 + i), await client.ReadDataAsync((ulong)i * 8192, 4096));
        }
    }

    [Fact]
    public async Task Pipelining_BeyondMaxInFlight_AllAnswered()
    {
        await using var ts = StartServer(new NbdServerOptions { MaxRequestsInFlight = 4 });
        await using var client = await ts.OpenAsync("disk", structured: true);
        var batch = new List<byte>();
        for (var i = 0; i < 500; i++)
        {
            batch.AddRange(RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Read, (ulong)i, (ulong)(i % 100) * 4096, 4096));
        }

        await client.SendAsync(batch.ToArray());
        var seen = new HashSet<ulong>();
        for (var i = 0; i < 500; i++)
        {
            var reply = await client.ReadReplyAsync();
            Assert.True(seen.Add(reply.Cookie));
            Assert.Equal(new byte[4096], reply.ReassembleRead((reply.Cookie % 100) * 4096, 4096));
        }
    }

    [Fact]
    public async Task Disconnect_RepliesToInFlightRequests_ThenCloses()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk");
        var batch = new List<byte>();
        for (var i = 0; i < 8; i++)
        {
            batch.AddRange(RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Read, (ulong)i, (ulong)i * 65536, 65536));
            client.ExpectSimpleRead((ulong)i, 65536);
        }

        batch.AddRange(RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Disconnect, 999, 0, 0));
        await client.SendAsync(batch.ToArray());
        var seen = new HashSet<ulong>();
        for (var i = 0; i < 8; i++)
        {
            var reply = await client.ReadReplyAsync();
            Assert.Equal(0u, reply.Error);
            Assert.True(seen.Add(reply.Cookie));
            Assert.Equal(65536, reply.Chunks[0].Payload.Length);
        }

        await client.AssertClosedWithoutDataAsync();
        Assert.Equal(0, await ts.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task ClientEof_ClosesServerSide()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk");
        Assert.Equal(1, ts.Server.ActiveConnections);
        client.ShutdownSend();
        Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, await ts.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task CookiesAreEchoedVerbatim()
    {
        await using var ts = StartServer();
        await using var client = await ts.OpenAsync("disk", structured: true);
        foreach (var cookie in new[] { 0ul, ulong.MaxValue, 0x8000_0000_0000_0000ul, 0x0123_4567_89AB_CDEFul })
        {
            await client.SendRequestAsync(NbdCommand.Read, CommandFlags.None, 0, 512, cookie: cookie);
            var reply = await client.ReadReplyAsync();
            Assert.Equal(cookie, reply.Cookie);
            Assert.All(reply.Chunks, c => Assert.Equal(cookie, c.Cookie));
        }
    }

    [Fact]
    public async Task MultiConn_FlushedWriteVisibleOnOtherConnection()
    {
        await using var ts = StartServer();
        await using var a = await ts.OpenAsync("disk");
        await using var b = await ts.OpenAsync("disk", structured: true);
        var pattern = NbdData.Pattern(65536, 12);
        await a.WriteDataAsync(65536, pattern, CommandFlags.Fua);
        Assert.Equal(pattern, await b.ReadDataAsync(65536, pattern.Length));
    }

    private static uint StatusAt(List<(ulong Length, uint Status)> list, ulong offset)
    {
        ulong at = 0;
        foreach (var (len, status) in list)
        {
            if (offset < at + len)
            {
                return status;
            }

            at += len;
        }

        Assert.Fail($"no descriptor covers offset {offset}");
        return 0;
    }
}
