namespace Engine.Benchmarks.Support;

/// <summary>Deterministic inputs, so two runs (and two machines) measure the same bytes.</summary>
internal static class TestData
{
    private const int Seed = 14;

    /// <summary>Incompressible bytes.</summary>
    public static byte[] Random(int length)
    {
        var data = new byte[length];
        new Random(Seed).NextBytes(data);
        return data;
    }

    /// <summary>
    /// Bytes that zstd and zlib shrink to about a half, as typical disk contents do: random values from a 16-letter
    /// alphabet, none of them zero, so no block is skipped as a hole.
    /// </summary>
    public static byte[] Compressible(int length)
    {
        var data = new byte[length];
        var random = new Random(Seed);
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(0x41 + random.Next(16));
        }

        return data;
    }
}
