using System.Buffers.Binary;
using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Tests.Infrastructure;

namespace Engine.Nbd.Tests;

/// <summary>How device failures, block sizes and partial extent answers reach the wire.</summary>
public sealed class DeviceBehaviourTests
{
    private const int Size = 1 << 20;

    private static NbdTestServer StartFaulty(Func<Exception> fault, int? minimumBlockSize = null)
    {
        var device = new FaultyDevice(new MemoryBlockDevice(Size))
        {
            FaultOffset = 512 << 10,
            FaultLength = 4096,
            Fault = fault,
            MinimumBlockSizeOverride = minimumBlockSize,
        };
        return NbdTestServer.Start(exports: new NbdExport("faulty", device));
    }

    public static TheoryData<int, uint> Errnos => new()
    {
        { Errno.EIO, (uint)NbdError.Io },
        { Errno.EPERM, (uint)NbdError.Perm },
        { Errno.ENOSPC, (uint)NbdError.NoSpace },
        { Errno.EDQUOT, (uint)NbdError.NoSpace },
        { Errno.EFBIG, (uint)NbdError.NoSpace },
        { Errno.ENOMEM, (uint)NbdError.NoMemory },
        { Errno.EBADF, (uint)NbdError.Io }, // not an NBD error value: must be mapped, not passed through
    };

    [Theory]
    [MemberData(nameof(Errnos))]
    public async Task DeviceErrors_MapToNbdErrors_InEveryReplyFormat(int errno, uint expected)
    {
        await using var ts = StartFaulty(() => new BlockDeviceException(errno, "injected"));
        foreach (var (structured, extended) in new[] { (false, false), (true, false), (true, true) })
        {
            await using var client = await ts.OpenAsync("faulty", structured, extended);
            var read = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, 510 << 10, 8192);
            Assert.True(read.Error == expected, $"READ ({structured}/{extended}): {read}");
            Assert.DoesNotContain(read.Chunks, c => c.Type == (ushort)NbdReplyType.OffsetData && c.Kind != ReplyKind.Simple
                && BinaryPrimitives.ReadUInt64BigEndian(c.Payload) + (ulong)c.Payload.Length - 8 > 512ul << 10);
            if (read.IsSimple)
            {
                Assert.Empty(read.Chunks[0].Payload);
            }

            var write = await client.CommandAsync(NbdCommand.Write, CommandFlags.None, 512 << 10, 4096, new byte[4096]);
            Assert.True(write.Error == expected, $"WRITE ({structured}/{extended}): {write}");
            await TransmissionTests.AssertInSyncAsync(client);
            Assert.Equal(new byte[512], await client.ReadDataAsync(0, 512));
        }
    }

    /// <summary>
    /// The spec reserves NBD_EOVERFLOW for a READ with DF (the reply would have to be fragmented) and NBD_ENOTSUP for
    /// WRITE_ZEROES with FAST_ZERO ("not faster than writing"); a client that asked neither must not see them, so a
    /// device's EOVERFLOW becomes EINVAL and its ENOTSUP becomes EIO.
    /// </summary>
    public static TheoryData<int, ushort, ushort, uint> ReservedErrors => new()
    {
        { Errno.EOVERFLOW, (ushort)NbdCommand.Read, (ushort)CommandFlags.None, (uint)NbdError.Invalid },
        { Errno.EOVERFLOW, (ushort)NbdCommand.Read, (ushort)CommandFlags.DontFragment, (uint)NbdError.Overflow },
        { Errno.EOVERFLOW, (ushort)NbdCommand.Write, (ushort)CommandFlags.None, (uint)NbdError.Invalid },
        { Errno.ENOTSUP, (ushort)NbdCommand.Read, (ushort)CommandFlags.None, (uint)NbdError.Io },
        { Errno.ENOTSUP, (ushort)NbdCommand.Write, (ushort)CommandFlags.None, (uint)NbdError.Io },
        { Errno.ENOTSUP, (ushort)NbdCommand.WriteZeroes, (ushort)CommandFlags.None, (uint)NbdError.Io },
    };

    [Theory]
    [MemberData(nameof(ReservedErrors))]
    public async Task ReservedErrors_ReachOnlyTheRequestsTheSpecAllowsThemFor(int errno, ushort command, ushort flags, uint expected)
    {
        await using var ts = StartFaulty(() => new BlockDeviceException(errno, "injected"));
        await using var client = await ts.OpenAsync("faulty", structured: true);
        var payload = (NbdCommand)command == NbdCommand.Write ? new byte[4096] : null;

        var reply = await client.CommandAsync((NbdCommand)command, (CommandFlags)flags, 512 << 10, 4096, payload);

        Assert.True(reply.Error == expected, $"{(NbdCommand)command} flags={flags}: {reply}");
        await TransmissionTests.AssertInSyncAsync(client);
    }

    [Fact]
    public async Task UnexpectedException_IsEio_AndConnectionSurvives()
    {
        await using var ts = StartFaulty(() => new InvalidOperationException("bug in a device"));
        await using var client = await ts.OpenAsync("faulty", structured: true);
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, 512 << 10, 4096);
        Assert.Equal((uint)NbdError.Io, reply.Error);
        await TransmissionTests.AssertInSyncAsync(client);
    }

    [Fact]
    public async Task BlockStatusFailure_IsErrorChunk()
    {
        await using var ts = StartFaulty(() => new BlockDeviceException(Errno.EIO, "injected"));
        await using var client = await ts.OpenAsync("faulty", structured: true, metaContexts: ["base:allocation"]);
        var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, 512 << 10, 4096);
        Assert.Equal((uint)NbdError.Io, reply.Error);
        Assert.All(reply.Chunks, c => Assert.Equal(ReplyKind.Structured, c.Kind));
        await TransmissionTests.AssertInSyncAsync(client);
    }

    [Fact]
    public async Task StructuredRead_ErrorInTheMiddle_NoDataClaimsBadRange()
    {
        await using var ts = StartFaulty(() => new BlockDeviceException(Errno.EIO, "injected"));
        await using var client = await ts.OpenAsync("faulty", structured: true);
        // A large read whose middle fails: the reply must carry an error and not claim success.
        var reply = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, 256 << 10, 512 << 10);
        Assert.Equal((uint)NbdError.Io, reply.Error);
        Assert.Equal(1, reply.Chunks.Count(c => c.IsDone));
        Assert.True(reply.Chunks[^1].IsDone);
    }

    [Fact]
    public async Task MinimumBlockSize_IsAdvertised_AndUnalignedRequestsRefused()
    {
        await using var ts = StartFaulty(() => new BlockDeviceException(Errno.EIO, "unused"), minimumBlockSize: 512);
        await using var client = await ts.ConnectAsync();
        var info = await client.NegotiateAsync("faulty", structured: true);
        Assert.Equal(512u, info.MinBlock);
        Assert.True(info.PreferredBlock >= 512 && uint.IsPow2(info.PreferredBlock));

        foreach (var (offset, length) in new[] { (100ul, 512ul), (0ul, 100ul), (512ul, 513ul) })
        {
            var read = await client.CommandAsync(NbdCommand.Read, CommandFlags.None, offset, length);
            Assert.True(read.Error == (uint)NbdError.Invalid, $"unaligned READ {offset}+{length}: {read}");
            var write = await client.CommandAsync(NbdCommand.Write, CommandFlags.None, offset, length, new byte[length]);
            Assert.True(write.Error == (uint)NbdError.Invalid, $"unaligned WRITE {offset}+{length}: {write}");
        }

        await TransmissionTests.AssertInSyncAsync(client);
        var data = NbdData.Pattern(1024, 50);
        await client.WriteDataAsync(1024, data);
        Assert.Equal(data, await client.ReadDataAsync(1024, 1024));
    }

    [Fact]
    public async Task BlockStatus_ContextAnsweringInPieces_IsConsistent()
    {
        // 4 KiB runs, at most 64 per call: the server must either loop or return a shorter (but correct) answer.
        var export = new NbdExport("fine", new MemoryBlockDevice(Size));
        export.MetaContexts.Register(new FakeDirtyBitmapContext("qemu:dirty-bitmap:fine", Size, granularity: 4096));
        await using var ts = NbdTestServer.Start(exports: export);
        foreach (var extended in new[] { false, true })
        {
            await using var client = await ts.OpenAsync("fine", structured: true, extended: extended, metaContexts: ["qemu:dirty-bitmap:fine"]);
            var id = client.Export!.Contexts["qemu:dirty-bitmap:fine"];
            const ulong offset = 1000;
            var reply = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.None, offset, Size - 1000);
            var list = reply.BlockStatus()[id];
            Assert.NotEmpty(list);
            var at = offset;
            for (var i = 0; i < list.Count; i++)
            {
                var (len, status) = list[i];
                Assert.True(len > 0);
                Assert.Equal(FakeDirtyBitmapContext.StatusAt((long)at, 4096), status);
                if (i < list.Count - 1)
                {
                    Assert.Equal(0ul, (at + len) % 4096); // runs end on the granularity
                    Assert.NotEqual(list[i + 1].Status, status);
                }

                at += len;
            }

            Assert.True(at <= Size, "descriptors past the end of the export");

            var one = await client.CommandAsync(NbdCommand.BlockStatus, CommandFlags.ReqOne, 4096 + 100, 50);
            Assert.Equal((50ul, 1u), Assert.Single(one.BlockStatus()[id]));
        }
    }
}
