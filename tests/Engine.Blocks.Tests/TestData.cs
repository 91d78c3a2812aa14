namespace Engine.Blocks.Tests;

/// <summary>Reproducible random bytes and helpers shared by the device tests.</summary>
internal static class TestData
{
    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static async Task<byte[]> ReadAllAsync(IBlockDevice device, long offset, int length)
    {
        var buffer = new byte[length];
        await device.ReadAsync(offset, buffer);
        return buffer;
    }

    public static bool IsZero(ReadOnlySpan<byte> bytes) => !bytes.ContainsAnyExcept((byte)0);

    /// <summary>Walks <see cref="IBlockDevice.GetExtentsAsync"/> over a whole range, checking the per-call contract.</summary>
    public static async Task<Extent[]> AllExtentsAsync(IBlockDevice device, long offset, long length)
    {
        var all = new ExtentList();
        var end = offset + length;
        while (offset < end)
        {
            var part = new ExtentList();
            var covered = await device.GetExtentsAsync(offset, end - offset, part);
            Assert.InRange(covered, 1, end - offset);
            Assert.Equal(offset, part.AsSpan()[0].Offset);
            Assert.Equal(offset + covered, part.End);
            foreach (var extent in part.AsSpan())
            {
                all.Add(extent.Offset, extent.Length, extent.Flags);
            }

            offset += covered;
        }

        return all.AsSpan().ToArray();
    }
}
