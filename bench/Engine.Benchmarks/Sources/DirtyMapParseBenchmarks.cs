using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using Engine.Sources;

namespace Engine.Benchmarks.Sources;

/// <summary>
/// Parsing a dirty map in <c>nbdinfo --map=qemu:dirty-bitmap:NAME</c> layout, as PVE hands it over for the
/// file-handle mechanism: 10,000 lines alternating clean and dirty 64 KiB extents. Reported per line.
/// </summary>
[MemoryDiagnoser]
public class DirtyMapParseBenchmarks
{
    private const int Lines = 10_000;
    private const long Extent = 64 << 10;

    private string _map = null!;

    [GlobalSetup]
    public void Setup()
    {
        var text = new StringBuilder();
        for (var i = 0; i < Lines; i++)
        {
            var dirty = i % 2;
            text.Append(CultureInfo.InvariantCulture, $"{i * Extent,12} {Extent,12}    {dirty}  {(dirty == 1 ? "dirty" : "clean")}\n");
        }

        _map = text.ToString();
    }

    [Benchmark(OperationsPerInvoke = Lines)]
    public async Task<long> Parse()
    {
        long dirty = 0;
        using var reader = new StringReader(_map);
        await foreach (var range in DirtyMapReader.ReadAsync(reader, "bench.map", Lines * Extent))
        {
            dirty += range.Length;
        }

        return dirty;
    }
}
