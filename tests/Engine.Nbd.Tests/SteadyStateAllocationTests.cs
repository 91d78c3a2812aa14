using System.Buffers.Binary;
using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Blocks.Native;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Server.Transmission;
using Engine.Nbd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Engine.Nbd.Tests;

/// <summary>
/// The README promises that the server allocates nothing per READ once it is warm. These tests serve exports through
/// the real server over a Unix socket, issue many READs from a client, and count what the server allocates.
/// </summary>
/// <remarks>
/// Two measurements, so that neither a gap in one nor noise in the other lets a per-request allocation through:
/// <list type="bullet">
/// <item><see cref="RequestAllocationMeter"/> reads <see cref="GC.GetAllocatedBytesForCurrentThread"/> around every
/// unit of request work on the threads that do it: the connection's reader (which also answers sendfile and small
/// reads inline), its writer, and the pool thread of a dispatched request. Nothing else runs there, so the test host's
/// own chatter cannot hide in it; its tolerance is a byte per request. It reads 0 on a quiet machine; under load the
/// pool adds threads, and a pool thread's first unit of work may allocate once (0.2 bytes per READ seen at a load of
/// 30), while a per-request allocation costs at least the 24 bytes of the smallest object on every READ.</item>
/// <item><see cref="GC.GetTotalAllocatedBytes(bool)"/> with <c>precise: true</c> counts every thread of the process,
/// so it also sees work the meter cannot (continuations of asynchronous device calls, timers). The test host
/// allocates in sporadic bursts (up to ~90 KiB in one run here), so the READs are counted in four windows and the
/// quietest is held to a byte per request: a per-request allocation shows in every window and costs at least the
/// 24 bytes of the smallest object, a burst shows in one.</item>
/// </list>
/// The client side of the measured loop allocates nothing (pre-built request headers, one receive buffer, raw
/// blocking <c>send</c>/<c>recv</c>, no asserts until the loop ends), and the serial collection keeps other tests
/// from running beside it.
/// </remarks>
[Collection(SerialCollection.Name)]
public sealed class SteadyStateAllocationTests(ITestOutputHelper output)
{
    private const int ExportSize = 8 << 20;
    private const int Depth = 16;
    private const int WarmupRounds = 400;

    /// <summary>The process-wide count is taken over this many windows and the quietest one judged.</summary>
    private const int Windows = 4;

    /// <summary>Which server path a case exercises.</summary>
    public enum ReadPath
    {
        /// <summary>A file export, reads of 64 KiB and more: extents, then sendfile(2) from the page cache.</summary>
        SendFile,

        /// <summary>A file export, reads below 64 KiB: pread into a pooled buffer on the reader thread.</summary>
        SmallPread,

        /// <summary>A file export without zero-copy reads: the pool thread reads into a pooled buffer.</summary>
        BufferedFile,

        /// <summary>A device without sendfile (memory): the pool thread reads into a pooled buffer.</summary>
        BufferedMemory,
    }

    [Theory]
    [InlineData(ReadPath.SendFile, false, 128 << 10, 8000)]
    [InlineData(ReadPath.SendFile, true, 256 << 10, 8000)]
    [InlineData(ReadPath.SmallPread, false, 4096, 40000)]
    [InlineData(ReadPath.SmallPread, true, 4096, 40000)]
    [InlineData(ReadPath.BufferedFile, false, 64 << 10, 16000)]
    [InlineData(ReadPath.BufferedFile, true, 256 << 10, 8000)]
    [InlineData(ReadPath.BufferedMemory, false, 64 << 10, 16000)]
    [InlineData(ReadPath.BufferedMemory, true, 256 << 10, 8000)]
    public async Task Read_AllocatesNothingPerRequest_InSteadyState(ReadPath path, bool structured, int length, int requests)
    {
        var file = Path.Combine(Path.GetTempPath(), $"nbd-alloc-{Guid.NewGuid():N}.img");
        try
        {
            var expected = WriteSparseImage(file);
            IBlockDevice device = path == ReadPath.BufferedMemory ? await LoadIntoMemoryAsync(expected) : FileBlockDevice.Open(file, FileBlockDeviceOptions.Default);
            var options = new NbdServerOptions { ZeroCopyReads = path != ReadPath.BufferedFile };
            await using var server = NbdTestServer.Start(options: options, exports: new NbdExport("disk", device, readOnly: true));
            await using var client = await server.OpenAsync("disk", structured);

            // Correctness first, through the test client that checks every chunk: the loop below only counts bytes.
            var offset = OffsetOf(3, length);
            var reply = await client.ReadReplyAsync(await client.SendRequestAsync(NbdCommand.Read, CommandFlags.None, (ulong)offset, (ulong)length));
            Assert.Equal(expected.AsSpan(offset, length).ToArray(), reply.ReassembleRead((ulong)offset, length));
            if (structured && path != ReadPath.SmallPread)
            {
                Assert.Contains(reply.ContentChunks(), c => c.Type == NbdReplyType.OffsetHole);
            }

            // Warm up until every method on the path has been promoted by tiered compilation: unoptimised code boxes
            // where optimised code does not, and the steady state is what the promise is about.
            var loop = new ReadLoop(client, structured, length);
            Assert.Equal(0, loop.Run(WarmupRounds));

            var rounds = requests / Depth / Windows;
            var quietest = long.MaxValue;
            var failure = 0;
            RequestAllocationMeter.Reset();
            RequestAllocationMeter.Enabled = true;
            for (var window = 0; window < Windows; window++)
            {
                var before = GC.GetTotalAllocatedBytes(precise: true);
                failure = failure != 0 ? failure : loop.Run(rounds);
                quietest = Math.Min(quietest, GC.GetTotalAllocatedBytes(precise: true) - before);
            }

            RequestAllocationMeter.Enabled = false;
            var serverThreads = RequestAllocationMeter.Bytes;
            Assert.Equal(0, failure);

            var measured = rounds * Depth * Windows;
            var what = $"{measured} READs on the {path} path (structured={structured}, {length}-byte reads)";
            output.WriteLine($"{what}: server threads {serverThreads} bytes ({(double)serverThreads / measured:F3} per READ); whole process in the quietest of {Windows} windows {quietest} bytes ({(double)quietest * Windows / measured:F3} per READ)");
            Assert.True(serverThreads <= measured, $"the server's request threads allocated {serverThreads} bytes over {what}");
            Assert.True(quietest <= measured / Windows, $"the process allocated {quietest} bytes over {measured / Windows} of {what}, in the quietest window");
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Request <paramref name="index"/>'s offset: spread over the export so reads span data and holes alike.</summary>
    private static int OffsetOf(int index, int length) => (int)((long)index * length * 5 % (ExportSize - length)) / 4096 * 4096;

    /// <summary>Data in odd 64 KiB blocks and holes in even ones, so structured reads carry both chunk kinds.</summary>
    private static byte[] WriteSparseImage(string path)
    {
        var content = new byte[ExportSize];
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        stream.SetLength(ExportSize);
        for (var block = 1; block < ExportSize / (64 << 10); block += 2)
        {
            var data = content.AsSpan(block * (64 << 10), 64 << 10);
            NbdData.Pattern(data.Length, block).CopyTo(data);
            stream.Position = block * (64 << 10);
            stream.Write(data);
        }

        return content;
    }

    private static async Task<MemoryBlockDevice> LoadIntoMemoryAsync(byte[] content)
    {
        var device = new MemoryBlockDevice(content.Length);
        for (var block = 1; block < content.Length / (64 << 10); block += 2)
        {
            await device.WriteAsync(block * (64 << 10), content.AsMemory(block * (64 << 10), 64 << 10));
        }

        return device;
    }

    /// <summary>
    /// A client that allocates nothing per request: <see cref="Depth"/> pre-built READ headers sent in one go, replies
    /// read into one buffer and checked by hand. It returns the first anomaly as a number instead of asserting, so
    /// that nothing on this side allocates while the server is measured.
    /// </summary>
    private sealed class ReadLoop
    {
        private const int SimpleHeader = 16;
        private const int ChunkHeader = 20;

        private readonly int _fd;
        private readonly bool _structured;
        private readonly int _length;
        private readonly byte[] _requests = new byte[Depth * 28];
        private readonly byte[] _buffer;

        public ReadLoop(RawNbdClient client, bool structured, int length)
        {
            // The test client used the socket asynchronously, which left it non-blocking; plain blocking calls from
            // here on keep the runtime's socket engine (and its allocations) out of the loop.
            _fd = (int)client.Socket.SafeHandle.DangerousGetHandle();
            Assert.Equal(0, LibC.MakeBlocking(client.Socket.SafeHandle));
            _structured = structured;
            _length = length;
            _buffer = new byte[length + 64];
            for (var i = 0; i < Depth; i++)
            {
                var header = RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Read, (ulong)i, (ulong)OffsetOf(i + 7, length), (uint)length);
                header.CopyTo(_requests, i * 28);
            }
        }

        /// <summary>Issues <paramref name="rounds"/> × <see cref="Depth"/> READs; 0, or a code naming what went wrong.</summary>
        public int Run(int rounds)
        {
            for (var round = 0; round < rounds; round++)
            {
                if (LibC.SendAll(_fd, _requests) != 0)
                {
                    return 1;
                }

                for (var reply = 0; reply < Depth; reply++)
                {
                    var problem = _structured ? ReadStructuredReply() : ReadSimpleReply();
                    if (problem != 0)
                    {
                        return problem;
                    }
                }
            }

            return 0;
        }

        private int ReadSimpleReply()
        {
            if (!Receive(SimpleHeader))
            {
                return 2;
            }

            if (BinaryPrimitives.ReadUInt32BigEndian(_buffer) != NbdMagic.SimpleReply || BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(4)) != 0)
            {
                return 3;
            }

            return Receive(_length) ? 0 : 4;
        }

        private int ReadStructuredReply()
        {
            var covered = 0L;
            while (true)
            {
                if (!Receive(ChunkHeader))
                {
                    return 5;
                }

                var flags = BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(4));
                var type = (NbdReplyType)BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(6));
                var payload = (int)BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(16));
                if (BinaryPrimitives.ReadUInt32BigEndian(_buffer) != NbdMagic.StructuredReply || payload > _buffer.Length || !Receive(payload))
                {
                    return 6;
                }

                switch (type)
                {
                    case NbdReplyType.OffsetData:
                        covered += payload - 8;
                        break;
                    case NbdReplyType.OffsetHole:
                        covered += BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(8));
                        break;
                    default:
                        return 7;
                }

                if ((flags & (ushort)ReplyFlags.Done) != 0)
                {
                    return covered == _length ? 0 : 8;
                }
            }
        }

        private bool Receive(int count)
        {
            var done = 0;
            while (done < count)
            {
                var n = LibC.Receive(_fd, _buffer.AsSpan(done, count - done));
                if (n <= 0)
                {
                    return false;
                }

                done += (int)n;
            }

            return true;
        }
    }
}
