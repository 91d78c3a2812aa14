using BenchmarkDotNet.Attributes;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server.Transmission;

namespace Engine.Benchmarks.Nbd;

/// <summary>
/// The server's composition of READ replies into a reused <c>ReplyJob</c>: header bytes and the segment list the
/// writer hands to sendmsg(2). The same steps as <c>TransmissionSession.ComposeRead</c>, one per reply form.
/// </summary>
[MemoryDiagnoser]
public class ReplyCompositionBenchmarks
{
    private const ulong Offset = 1 << 20;
    private const int Length = 64 << 10;

    // The owner is only used when the job runs as a thread-pool work item, which composition never does.
    private readonly ReplyJob _job = new(null!);
    private readonly RequestHeader _request = new(CommandFlags.None, NbdCommand.Read, 0x1234, Offset, Length, 0);

    [Benchmark(Baseline = true)]
    public int Simple()
    {
        _job.Reset(_request, 0);
        _job.AppendSimpleReply(NbdError.None);
        _job.AppendBufferData(0, Length);
        return _job.SegmentCount;
    }

    [Benchmark]
    public int StructuredData()
    {
        _job.Reset(_request, 0);
        _job.AppendChunkHeader(extended: false, ReplyFlags.Done, NbdReplyType.OffsetData, 8 + Length);
        _job.AppendUInt64(Offset);
        _job.AppendFileData((long)Offset, Length);
        return _job.SegmentCount;
    }

    /// <summary>A hole then data, with extended headers: two chunks, as a sparse READ gets.</summary>
    [Benchmark]
    public int ExtendedHoleThenData()
    {
        _job.Reset(_request, 0);
        _job.AppendChunkHeader(extended: true, ReplyFlags.None, NbdReplyType.OffsetHole, 12);
        _job.AppendUInt64(Offset);
        _job.AppendUInt32(Length / 2);
        _job.AppendChunkHeader(extended: true, ReplyFlags.Done, NbdReplyType.OffsetData, 8 + (Length / 2));
        _job.AppendUInt64(Offset + (Length / 2));
        _job.AppendFileData((long)Offset + (Length / 2), Length / 2);
        return _job.SegmentCount;
    }
}
