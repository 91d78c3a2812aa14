using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server.Transmission;

namespace Engine.Benchmarks.Nbd;

/// <summary>The server's parse of one READ request header, in place over the receive buffer.</summary>
[MemoryDiagnoser]
public class RequestHeaderParseBenchmarks
{
    private readonly byte[] _compact = new byte[NbdWire.RequestHeaderLength];
    private readonly byte[] _extended = new byte[NbdWire.ExtendedRequestHeaderLength];

    [GlobalSetup]
    public void Setup()
    {
        Write(_compact, NbdMagic.Request, extended: false);
        Write(_extended, NbdMagic.ExtendedRequest, extended: true);
    }

    [Benchmark(Baseline = true)]
    public ulong Compact() => Parse(_compact, extended: false);

    [Benchmark]
    public ulong Extended() => Parse(_extended, extended: true);

    private static ulong Parse(byte[] bytes, bool extended) =>
        RequestHeader.TryParse(bytes, extended, out var header) ? header.Offset + header.Length : throw new InvalidOperationException("bad magic");

    private static void Write(Span<byte> header, uint magic, bool extended)
    {
        BinaryPrimitives.WriteUInt32BigEndian(header, magic);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], (ushort)NbdCommand.Read);
        BinaryPrimitives.WriteUInt64BigEndian(header[8..], 0x1234);
        BinaryPrimitives.WriteUInt64BigEndian(header[16..], 1 << 20);
        if (extended)
        {
            BinaryPrimitives.WriteUInt64BigEndian(header[24..], 64 << 10);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(header[24..], 64 << 10);
        }
    }
}
