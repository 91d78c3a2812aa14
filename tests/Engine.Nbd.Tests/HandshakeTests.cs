using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Engine.Blocks.Devices;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Tests.Infrastructure;

namespace Engine.Nbd.Tests;

/// <summary>Fixed-newstyle handshake and option haggling, byte by byte.</summary>
public sealed class HandshakeTests
{
    private const uint Ack = (uint)NbdOptionReply.Ack;

    private static NbdTestServer StartThreeExports(NbdServerOptions? options = null)
    {
        var a = new NbdExport("alpha", new MemoryBlockDevice(1 << 20), description: "first disk");
        var b = new NbdExport("beta", new MemoryBlockDevice(2 << 20), readOnly: true);
        var c = new NbdExport("gamma/ünïcode", new MemoryBlockDevice(4096));
        b.MetaContexts.Register(new FakeDirtyBitmapContext("qemu:dirty-bitmap:b0", 2 << 20));
        return NbdTestServer.Start(options: options, exports: [a, b, c]);
    }

    [Fact]
    public async Task Greeting_IsNbdMagic_IHaveOpt_FixedNewstyleNoZeroes()
    {
        await using var ts = NbdTestServer.Start();
        await using var client = await ts.ConnectAsync();
        var greeting = await client.ReadExactAsync(18);
        Assert.Equal("4E42444D41474943" + "49484156454F5054" + "0003", Convert.ToHexString(greeting));
    }

    [Theory]
    [InlineData(0u)] // neither FIXED_NEWSTYLE nor NO_ZEROES
    [InlineData(2u)] // NO_ZEROES alone
    [InlineData(3u | 4u)] // an unknown flag
    [InlineData(1u | 0x8000_0000u)] // an unknown high flag
    public async Task BadClientFlags_CloseTheConnection(uint flags)
    {
        await using var ts = NbdTestServer.Start();
        await using var client = await ts.ConnectAsync();
        await client.ReadGreetingAsync();
        await client.SendClientFlagsAsync(flags);
        // Whatever the client sends next must not be answered.
        try
        {
            await client.SendOptionAsync((uint)NbdOption.List, []);
        }
        catch (System.Net.Sockets.SocketException)
        {
            // Already closed.
        }

        await client.AssertClosedWithoutDataAsync();
    }

    [Fact]
    public async Task List_ListsEveryExportThenAck()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var replies = await client.OptionAsync(NbdOption.List);
        Assert.Equal(Ack, replies[^1].Type);
        Assert.Empty(replies[^1].Data);
        var names = new List<string>();
        foreach (var r in replies.SkipLast(1))
        {
            Assert.Equal((uint)NbdOptionReply.Server, r.Type);
            var len = BinaryPrimitives.ReadUInt32BigEndian(r.Data);
            Assert.True(len <= r.Data.Length - 4);
            names.Add(Encoding.UTF8.GetString(r.Data, 4, (int)len));
        }

        Assert.Equal(["alpha", "beta", "gamma/ünïcode"], names.Order(StringComparer.Ordinal));

        // LIST does not end the handshake.
        var again = await client.OptionAsync(NbdOption.List);
        Assert.Equal(4, again.Count);
    }

    [Fact]
    public async Task List_WithData_IsInvalid_AndSessionContinues()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var r = Assert.Single(await client.OptionAsync(NbdOption.List, [1, 2, 3]));
        Assert.Equal((uint)NbdOptionReply.ErrInvalid, r.Type);
        var go = await client.OptionAsync(NbdOption.Go, NbdData.InfoRequest("alpha"));
        Assert.Equal(Ack, go[^1].Type);
    }

    [Theory]
    [InlineData(200u, 0)]
    [InlineData(200u, 100)]
    [InlineData((uint)NbdOption.PeekExport, 0)]
    [InlineData(0u, 3)]
    [InlineData(0xFFFF_FFFFu, 10)]
    public async Task UnknownOption_IsUnsupported_AndSessionContinues(uint option, int dataLength)
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var r = Assert.Single(await client.OptionAsync(option, new byte[dataLength]));
        Assert.Equal((uint)NbdOptionReply.ErrUnsupported, r.Type);
        var list = await client.OptionAsync(NbdOption.List);
        Assert.Equal(Ack, list[^1].Type);
    }

    [Fact]
    public async Task StartTls_IsRefusedByPolicy_AndSessionContinues()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var r = Assert.Single(await client.OptionAsync(NbdOption.StartTls));
        Assert.Equal((uint)NbdOptionReply.ErrPolicy, r.Type);
        var info = await client.NegotiateGoOnlyAsync("alpha");
        Assert.Equal(1ul << 20, info);
    }

    [Theory]
    [InlineData((uint)NbdOption.Info)]
    [InlineData((uint)NbdOption.Go)]
    public async Task InfoOrGo_UnknownExport_IsErrUnknown_AndSessionContinues(uint optionValue)
    {
        // NbdOption is internal to Engine.Nbd, so the public theory takes its wire value.
        var option = (NbdOption)optionValue;
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var replies = await client.OptionAsync(option, NbdData.InfoRequest("no-such-export", NbdInfo.BlockSize));
        Assert.Equal((uint)NbdOptionReply.ErrUnknown, replies[^1].Type);
        Assert.DoesNotContain(replies, r => r.Type == (uint)NbdOptionReply.Info);
        Assert.Equal(1ul << 20, await client.NegotiateGoOnlyAsync("alpha"));
    }

    [Fact]
    public async Task Info_ReturnsExport_Name_Description_BlockSize()
    {
        await using var ts = StartThreeExports(new NbdServerOptions { MaxPayload = 1 << 20 });
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var replies = await client.OptionAsync(NbdOption.Info, NbdData.InfoRequest("", NbdInfo.Name, NbdInfo.Description, NbdInfo.BlockSize));
        Assert.Equal(Ack, replies[^1].Type);
        var info = NbdData.ParseInfos(replies.SkipLast(1));

        var export = info[NbdInfo.Export];
        Assert.Equal(10, export.Length);
        Assert.Equal(1ul << 20, BinaryPrimitives.ReadUInt64BigEndian(export));
        var flags = (TransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(export.AsSpan(8));
        Assert.True(flags.HasFlag(TransmissionFlags.HasFlags));
        Assert.False(flags.HasFlag(TransmissionFlags.ReadOnly));

        // "" is the default export, the first one added: its canonical name is "alpha".
        Assert.Equal("alpha", Encoding.UTF8.GetString(info[NbdInfo.Name]));
        Assert.Equal("first disk", Encoding.UTF8.GetString(info[NbdInfo.Description]));

        var bs = info[NbdInfo.BlockSize];
        Assert.Equal(12, bs.Length);
        var min = BinaryPrimitives.ReadUInt32BigEndian(bs);
        var pref = BinaryPrimitives.ReadUInt32BigEndian(bs.AsSpan(4));
        var max = BinaryPrimitives.ReadUInt32BigEndian(bs.AsSpan(8));
        Assert.True(min >= 1 && min <= 65536 && uint.IsPow2(min), $"minimum block size {min}");
        Assert.True(uint.IsPow2(pref) && pref >= Math.Max(min, 512), $"preferred block size {pref}");
        Assert.True(max >= pref, $"max payload {max} < preferred {pref}");
        Assert.Equal(1u << 20, max);

        // INFO does not enter transmission: another option still works, and GO gives the same export data.
        var go = await client.OptionAsync(NbdOption.Go, NbdData.InfoRequest("", NbdInfo.Name, NbdInfo.Description, NbdInfo.BlockSize));
        Assert.Equal(Ack, go[^1].Type);
        Assert.Equal(export, NbdData.ParseInfos(go.SkipLast(1))[NbdInfo.Export]);
    }

    [Fact]
    public async Task Info_ByExactName_ReadOnlyExport_HasReadOnlyFlag()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var replies = await client.OptionAsync(NbdOption.Info, NbdData.InfoRequest("beta"));
        Assert.Equal(Ack, replies[^1].Type);
        var export = NbdData.ParseInfos(replies.SkipLast(1))[NbdInfo.Export];
        Assert.Equal(2ul << 20, BinaryPrimitives.ReadUInt64BigEndian(export));
        var flags = (TransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(export.AsSpan(8));
        Assert.True(flags.HasFlag(TransmissionFlags.ReadOnly | TransmissionFlags.HasFlags), $"flags {flags}");
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 10, 1, 2 })] // name length beyond the data
    [InlineData(new byte[] { 0, 0, 0, 0, 0 })] // info count truncated
    [InlineData(new byte[] { 0, 0, 0, 0, 0, 2, 0, 3 })] // two info requests claimed, one present
    [InlineData(new byte[] { 0, 0 })] // shorter than the name length
    public async Task Go_MalformedData_IsInvalid_AndSessionContinues(byte[] data)
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var replies = await client.OptionAsync(NbdOption.Go, data);
        Assert.Equal((uint)NbdOptionReply.ErrInvalid, replies[^1].Type);
        Assert.Equal(1ul << 20, await client.NegotiateGoOnlyAsync(""));
    }

    [Fact]
    public async Task Go_EntersTransmission_WithoutZeroPadding()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        // Without NO_ZEROES: GO must still not pad.
        await client.StartAsync(clientFlags: 1);
        var go = await client.OptionAsync(NbdOption.Go, NbdData.InfoRequest("alpha"));
        Assert.Equal(Ack, go[^1].Type);
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, 0, 512);
        Assert.True(reply.IsSimple);
        Assert.Equal(new byte[512], reply.ReassembleRead(0, 512));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ExportName_SendsSizeFlags_AndZeroesUnlessNoZeroes(bool noZeroes)
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync(noZeroes ? 3u : 1u);
        await client.SendOptionAsync((uint)NbdOption.ExportName, "beta"u8);
        var b = await client.ReadExactAsync(10);
        Assert.Equal(2ul << 20, BinaryPrimitives.ReadUInt64BigEndian(b));
        var flags = (TransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(8));
        Assert.True(flags.HasFlag(TransmissionFlags.HasFlags | TransmissionFlags.ReadOnly));
        if (!noZeroes)
        {
            Assert.Equal(new byte[124], await client.ReadExactAsync(124));
        }

        // The very next bytes must be the reply to our first request.
        var cookie = await client.SendRequestAsync(NbdCommand.Read, CommandFlags.None, 4096, 16);
        var raw = await client.ReadExactAsync(16 + 16);
        Assert.Equal(NbdMagic.SimpleReply, BinaryPrimitives.ReadUInt32BigEndian(raw));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(raw.AsSpan(4)));
        Assert.Equal(cookie, BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(8)));
    }

    [Fact]
    public async Task ExportName_Empty_PicksDefaultExport()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        var info = await client.NegotiateAsync("", useExportName: true);
        Assert.Equal(1ul << 20, info.Size);
    }

    [Fact]
    public async Task ExportName_UnknownExport_ClosesTheConnection()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        await client.SendOptionAsync((uint)NbdOption.ExportName, "nope"u8);
        await client.AssertClosedWithoutDataAsync();
    }

    [Fact]
    public async Task Abort_IsAcked_ThenClosed()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var r = Assert.Single(await client.OptionAsync(NbdOption.Abort));
        Assert.Equal(Ack, r.Type);
        await client.AssertClosedWithoutDataAsync();
        Assert.Equal(0, await ts.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task StructuredReply_WithData_IsInvalid()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var r = Assert.Single(await client.OptionAsync(NbdOption.StructuredReply, [0]));
        Assert.Equal((uint)NbdOptionReply.ErrInvalid, r.Type);
        // ...and it did not switch structured replies on: SET_META_CONTEXT is still refused.
        var set = await client.OptionAsync(NbdOption.SetMetaContext, NbdData.MetaContextRequest("alpha", "base:allocation"));
        Assert.Equal((uint)NbdOptionReply.ErrInvalid, set[^1].Type);
    }

    [Fact]
    public async Task SetMetaContext_BeforeStructuredReplies_IsInvalid()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var replies = await client.OptionAsync(NbdOption.SetMetaContext, NbdData.MetaContextRequest("alpha", "base:allocation"));
        Assert.Equal((uint)NbdOptionReply.ErrInvalid, replies[^1].Type);
        Assert.DoesNotContain(replies, r => r.Type == (uint)NbdOptionReply.MetaContext);
    }

    [Fact]
    public async Task ListMetaContext_NoQueries_ListsEveryContext()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        Assert.Equal(Ack, Assert.Single(await client.OptionAsync(NbdOption.StructuredReply)).Type);
        var replies = await client.OptionAsync(NbdOption.ListMetaContext, NbdData.MetaContextRequest("beta"));
        Assert.Equal(Ack, replies[^1].Type);
        var names = replies.SkipLast(1).Select(r => NbdData.ParseMetaContext(r).Name).Order(StringComparer.Ordinal);
        Assert.Equal(["base:allocation", "qemu:dirty-bitmap:b0"], names);

        // The export without a bitmap lists only base:allocation.
        replies = await client.OptionAsync(NbdOption.ListMetaContext, NbdData.MetaContextRequest("alpha"));
        Assert.Equal(["base:allocation"], replies.SkipLast(1).Select(r => NbdData.ParseMetaContext(r).Name));
    }

    [Theory]
    [InlineData("qemu:dirty-bitmap:", "qemu:dirty-bitmap:b0")]
    [InlineData("qemu:dirty-bitmap:b0", "qemu:dirty-bitmap:b0")]
    [InlineData("base:allocation", "base:allocation")]
    [InlineData("qemu:dirty-bitmap:nope", "")]
    [InlineData("x-unknown:thing", "")]
    public async Task ListMetaContext_Query_ListsMatches(string query, string expected)
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        Assert.Equal(Ack, Assert.Single(await client.OptionAsync(NbdOption.StructuredReply)).Type);
        var replies = await client.OptionAsync(NbdOption.ListMetaContext, NbdData.MetaContextRequest("beta", query));
        Assert.Equal(Ack, replies[^1].Type);
        var names = replies.SkipLast(1).Select(r => NbdData.ParseMetaContext(r).Name).ToArray();
        Assert.Equal(expected.Length == 0 ? [] : new[] { expected }, names);
    }

    [Fact]
    public async Task ListMetaContext_UnknownExport_IsError()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        Assert.Equal(Ack, Assert.Single(await client.OptionAsync(NbdOption.StructuredReply)).Type);
        var replies = await client.OptionAsync(NbdOption.ListMetaContext, NbdData.MetaContextRequest("nope", "base:allocation"));
        Assert.True(replies[^1].IsError, $"got {replies[^1]}");
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 4, (byte)'b', (byte)'e', (byte)'t', (byte)'a', 0, 0, 0, 1, 0, 0, 0, 99, (byte)'b' })] // query length beyond data
    [InlineData(new byte[] { 0, 0, 0, 4, (byte)'b', (byte)'e', (byte)'t', (byte)'a', 0xFF, 0xFF, 0xFF, 0xFF })] // 4G queries, none present
    [InlineData(new byte[] { 0, 0, 0, 99 })] // export name beyond data
    [InlineData(new byte[] { 0, 0 })]
    public async Task MetaContext_MalformedData_IsInvalid(byte[] data)
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        Assert.Equal(Ack, Assert.Single(await client.OptionAsync(NbdOption.StructuredReply)).Type);
        foreach (var option in new[] { NbdOption.ListMetaContext, NbdOption.SetMetaContext })
        {
            var replies = await client.OptionAsync(option, data);
            // A query count the data cannot hold may also be refused as too big.
            Assert.True(replies[^1].Type is (uint)NbdOptionReply.ErrInvalid or (uint)NbdOptionReply.ErrTooBig, $"{option}: {replies[^1]}");
        }

        Assert.Equal(2ul << 20, await client.NegotiateGoOnlyAsync("beta"));
    }

    [Fact]
    public async Task SetMetaContext_ExactNames_ReturnsDistinctIds_UsedByBlockStatus()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        var info = await client.NegotiateAsync("beta", structured: true, metaContexts: ["base:allocation", "qemu:dirty-bitmap:b0", "qemu:nope"]);
        Assert.Equal(2, info.Contexts.Count);
        var baseId = info.Contexts["base:allocation"];
        var bitmapId = info.Contexts["qemu:dirty-bitmap:b0"];
        Assert.NotEqual(baseId, bitmapId);

        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, 0, 256 << 10);
        Assert.Equal(0u, reply.Error);
        var status = reply.BlockStatus();
        Assert.Equal([baseId, bitmapId], status.Keys.Order());
        // The fake bitmap alternates clean/dirty every 64 KiB.
        var bitmap = status[bitmapId];
        Assert.Equal((64ul << 10, 0u), bitmap[0]);
        Assert.Equal((64ul << 10, 1u), bitmap[1]);
        ulong at = 0;
        foreach (var (len, st) in bitmap)
        {
            Assert.True(at < 256 << 10, "descriptor after the requested range");
            Assert.Equal(FakeDirtyBitmapContext.StatusAt((long)at), st);
            at += len;
        }

        // base:allocation on an untouched memory device: one hole covering at least the request start.
        var alloc = status[baseId];
        Assert.NotEmpty(alloc);
        Assert.Equal(3u, alloc[0].Status);
    }

    [Fact]
    public async Task SetMetaContext_ReplacesEarlierSelection()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        Assert.Equal(Ack, Assert.Single(await client.OptionAsync(NbdOption.StructuredReply)).Type);
        var first = await client.OptionAsync(NbdOption.SetMetaContext, NbdData.MetaContextRequest("beta", "base:allocation", "qemu:dirty-bitmap:b0"));
        Assert.Equal(3, first.Count);
        var second = await client.OptionAsync(NbdOption.SetMetaContext, NbdData.MetaContextRequest("beta", "qemu:dirty-bitmap:b0"));
        var (id, name) = NbdData.ParseMetaContext(Assert.Single(second.SkipLast(1)));
        Assert.Equal("qemu:dirty-bitmap:b0", name);
        Assert.Equal(2ul << 20, await client.NegotiateGoOnlyAsync("beta"));
        client.StructuredReplies = true;
        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, 0, 4096);
        Assert.Equal([id], reply.BlockStatus().Keys);
    }

    [Fact]
    public async Task SetMetaContext_ForOtherExport_ThenGo_BlockStatusIsInvalid()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        Assert.Equal(Ack, Assert.Single(await client.OptionAsync(NbdOption.StructuredReply)).Type);
        var set = await client.OptionAsync(NbdOption.SetMetaContext, NbdData.MetaContextRequest("alpha", "base:allocation"));
        Assert.Equal(2, set.Count);
        Assert.Equal(2ul << 20, await client.NegotiateGoOnlyAsync("beta"));
        client.StructuredReplies = true;
        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, 0, 4096);
        Assert.Equal((uint)NbdError.Invalid, reply.Error);
    }

    [Theory]
    [InlineData(100_000_000u, (uint)NbdOption.List)]
    [InlineData(100_000_000u, (uint)NbdOption.Go)]
    [InlineData(100_000_000u, 200u)]
    [InlineData(0xFFFF_FFFFu, (uint)NbdOption.SetMetaContext)]
    [InlineData(0xFFFF_FFFFu, (uint)NbdOption.ExportName)]
    public async Task OptionLengthTooLarge_IsRefusedPromptly(uint claimedLength, uint option)
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var header = RawNbdClient.OptionBytes(option, []);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), claimedLength);
        var sw = Stopwatch.StartNew();
        try
        {
            await client.SendAsync(header);
            await client.SendAsync(new byte[1000]); // a little of the claimed data, then nothing
        }
        catch (System.Net.Sockets.SocketException)
        {
            // The server already hung up: acceptable.
        }

        // Either an error reply or a disconnect, within a couple of seconds; never a wait for 100 MB.
        client.Timeout = TimeSpan.FromSeconds(3);
        try
        {
            var reply = await client.ReadOptionReplyAsync();
            Assert.True(reply.IsError, $"got {reply}");
            Assert.Equal(option, reply.Option);
        }
        catch (EndOfStreamException)
        {
            // Disconnect: acceptable.
        }

        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task TooManyOptions_Disconnects()
    {
        await using var ts = StartThreeExports(new NbdServerOptions { MaxOptions = 8 });
        await using var client = await ts.ConnectAsync();
        await client.StartAsync();
        var batch = new List<byte>();
        for (var i = 0; i < 50; i++)
        {
            batch.AddRange(RawNbdClient.OptionBytes((uint)NbdOption.List, []));
        }

        await client.SendAsync(batch.ToArray());
        var answered = 0;
        try
        {
            while (answered < 50)
            {
                var replies = await client.ReadOptionRepliesAsync((uint)NbdOption.List);
                if (replies[^1].Type == Ack)
                {
                    answered++;
                }
            }
        }
        catch (EndOfStreamException)
        {
        }

        Assert.True(answered <= 9, $"server answered {answered} options with MaxOptions = 8");
        Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task HandshakeTimeout_DropsSilentClient()
    {
        await using var ts = NbdTestServer.Start(options: new NbdServerOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(500) });
        await using var client = await ts.ConnectAsync();
        await client.ReadGreetingAsync();
        var sw = Stopwatch.StartNew();
        Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(5)), "silent client never dropped");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), $"took {sw.Elapsed}");
        Assert.Equal(0, await ts.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public async Task HandshakeTimeout_DoesNotApplyToTransmission()
    {
        await using var ts = NbdTestServer.Start(options: new NbdServerOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        await using var client = await ts.OpenAsync();
        await Task.Delay(800);
        Assert.Equal(new byte[512], await client.ReadDataAsync(0, 512));
    }

    [Fact]
    public async Task TransmissionFlags_ReadWriteExport()
    {
        await using var ts = StartThreeExports();
        var expected = TransmissionFlags.HasFlags | TransmissionFlags.SendFlush | TransmissionFlags.SendFua | TransmissionFlags.SendTrim
            | TransmissionFlags.SendWriteZeroes | TransmissionFlags.SendCache | TransmissionFlags.CanMultiConn | TransmissionFlags.SendFastZero;

        await using (var plain = await ts.ConnectAsync())
        {
            var info = await plain.NegotiateAsync("alpha");
            Assert.True((info.Flags & expected) == expected, $"flags {info.Flags}, missing {expected & ~info.Flags}");
            Assert.False(info.Flags.HasFlag(TransmissionFlags.ReadOnly));
            Assert.False(info.Flags.HasFlag(TransmissionFlags.SendDf), "SEND_DF without structured replies");
        }

        await using (var structured = await ts.ConnectAsync())
        {
            var info = await structured.NegotiateAsync("alpha", structured: true);
            Assert.True((info.Flags & expected) == expected, $"flags {info.Flags}");
            Assert.True(info.Flags.HasFlag(TransmissionFlags.SendDf), $"no SEND_DF with structured replies: {info.Flags}");
        }

        await using (var old = await ts.ConnectAsync())
        {
            var info = await old.NegotiateAsync("alpha", useExportName: true);
            Assert.True((info.Flags & expected) == expected, $"flags {info.Flags}");
            Assert.False(info.Flags.HasFlag(TransmissionFlags.SendDf));
        }
    }

    [Fact]
    public async Task TransmissionFlags_ReadOnlyExport()
    {
        await using var ts = StartThreeExports();
        await using var client = await ts.ConnectAsync();
        var info = await client.NegotiateAsync("beta", structured: true);
        Assert.True(info.Flags.HasFlag(TransmissionFlags.ReadOnly | TransmissionFlags.HasFlags), $"flags {info.Flags}");
        Assert.Equal(2ul << 20, info.Size);
    }

    [Fact]
    public async Task ReadOnlyDevice_MakesExportReadOnly()
    {
        await using var ts = NbdTestServer.Start(exports: new NbdExport("ro", new MemoryBlockDevice(1 << 20, readOnly: true)));
        await using var client = await ts.ConnectAsync();
        var info = await client.NegotiateAsync("ro");
        Assert.True(info.Flags.HasFlag(TransmissionFlags.ReadOnly), $"flags {info.Flags}");
    }

    [Fact]
    public async Task ClientClosingMidHandshake_ReleasesTheConnection()
    {
        await using var ts = StartThreeExports();
        for (var i = 0; i < 10; i++)
        {
            await using var client = await ts.ConnectAsync();
            await client.StartAsync();
            await client.SendAsync(RawNbdClient.OptionBytes((uint)NbdOption.Go, NbdData.InfoRequest("alpha")).AsMemory(0, 20));
        }

        Assert.Equal(0, await ts.WaitForConnectionsAsync(0, TimeSpan.FromSeconds(5)));
    }
}

internal static class HandshakeTestExtensions
{
    /// <summary>GO to <paramref name="export"/> on an already started handshake; returns the export size.</summary>
    public static async Task<ulong> NegotiateGoOnlyAsync(this RawNbdClient client, string export)
    {
        var go = await client.OptionAsync(NbdOption.Go, NbdData.InfoRequest(export));
        Assert.True(go[^1].Type == (uint)NbdOptionReply.Ack, $"GO failed: {go[^1]}");
        return BinaryPrimitives.ReadUInt64BigEndian(NbdData.ParseInfos(go.SkipLast(1))[NbdInfo.Export]);
    }
}
