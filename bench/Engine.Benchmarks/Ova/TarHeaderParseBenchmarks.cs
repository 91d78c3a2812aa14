using BenchmarkDotNet.Attributes;
using Engine.Ova.Tar;
using Bcl = System.Formats.Tar;

namespace Engine.Benchmarks.Ova;

/// <summary>
/// The OVA reader's walk over ustar headers: 1,000 members of 512 bytes each in memory, every header parsed and
/// every body skipped. Reported per member.
/// </summary>
[MemoryDiagnoser]
public class TarHeaderParseBenchmarks
{
    private const int Members = 1_000;

    private byte[] _archive = null!;

    [GlobalSetup]
    public void Setup()
    {
        using var stream = new MemoryStream();
        using (var writer = new Bcl.TarWriter(stream, Bcl.TarEntryFormat.Ustar, leaveOpen: true))
        {
            var body = new byte[512];
            for (var i = 0; i < Members; i++)
            {
                var entry = new Bcl.UstarTarEntry(Bcl.TarEntryType.RegularFile, $"appliance-disk{i}.vmdk") { DataStream = new MemoryStream(body) };
                writer.WriteEntry(entry);
            }
        }

        _archive = stream.ToArray();
    }

    [Benchmark(OperationsPerInvoke = Members)]
    public long Walk()
    {
        using var reader = new TarReader(new MemoryStream(_archive, writable: false), "bench.ova");
        long size = 0;
        while (reader.Next() is { } entry)
        {
            size += entry.Size;
        }

        return size;
    }
}
