using Engine.Blocks.Buffers;

namespace Engine.Blocks.Tests;

/// <summary>The aligned native buffer pool: accounting, alignment, reuse and misuse.</summary>
public sealed class BufferPoolTests
{
    [Fact]
    public void Outstanding_counts_leases_and_returns_to_zero()
    {
        using var pool = new BufferPool();
        var buffers = new[] { pool.Rent(1), pool.Rent(4096), pool.Rent(4097), pool.Rent(1 << 20) };
        Assert.Equal(4, pool.Outstanding);
        foreach (var buffer in buffers)
        {
            buffer.Dispose();
        }

        Assert.Equal(0, pool.Outstanding);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4095)]
    [InlineData(4097)]
    [InlineData(100_000)]
    [InlineData(BufferPool.MaxBufferSize)]
    public unsafe void Buffers_are_page_aligned_and_exactly_as_long_as_asked(int length)
    {
        using var pool = new BufferPool();
        using var buffer = pool.Rent(length);
        Assert.Equal(0, (long)((nuint)buffer.Pointer % BufferPool.Alignment));
        Assert.Equal(length, buffer.Length);
        Assert.Equal(length, buffer.Memory.Length);
        Assert.True(buffer.Capacity >= Math.Max(length, 4096) && int.IsPow2(buffer.Capacity));

        // The whole length is usable memory.
        buffer.Span.Fill(0xAB);
        Assert.False(buffer.Span.ContainsAnyExcept((byte)0xAB));
    }

    [Fact]
    public unsafe void A_returned_buffer_is_reused()
    {
        using var pool = new BufferPool();
        var first = pool.Rent(10_000);
        var pointer = (nint)first.Pointer;
        first.Dispose();
        using var second = pool.Rent(12_000);
        Assert.Equal(pointer, (nint)second.Pointer);
        Assert.Equal(12_000, second.Length);
    }

    [Fact]
    public void Returning_twice_throws()
    {
        using var pool = new BufferPool();
        var buffer = pool.Rent(4096);
        buffer.Dispose();
        Assert.Throws<InvalidOperationException>(buffer.Dispose);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Requests_above_the_maximum_are_refused()
    {
        using var pool = new BufferPool();
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(BufferPool.MaxBufferSize + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(-1));
        Assert.Equal(0, pool.Outstanding);
    }
}
