using System.Numerics;

namespace Engine.Blocks.Buffers;

/// <summary>
/// A levelled pool of page-aligned native buffers, one level per power of two from 4 KiB up to
/// <see cref="MaxBufferSize"/>. Each level keeps at most a bounded number of idle buffers, so the pool's idle
/// memory is capped; larger requests are refused. The pool counts outstanding leases so tests can assert that
/// every buffer came back.
/// </summary>
public sealed class BufferPool : IDisposable
{
    /// <summary>Alignment of every buffer (a page; enough for O_DIRECT on any Linux block device).</summary>
    public const int Alignment = 4096;

    /// <summary>Largest buffer the pool hands out: 64 MiB, above the NBD 32 MiB payload default.</summary>
    public const int MaxBufferSize = 64 << 20;

    private const int MinShift = 12;
    private static readonly int LevelCount = BitOperations.Log2(MaxBufferSize) - MinShift + 1;

    private readonly Stack<NativeBuffer>[] _levels;
    private readonly int[] _levelLimits;
    private int _outstanding;
    private bool _disposed;

    /// <summary>The process-wide pool.</summary>
    public static BufferPool Shared { get; } = new();

    /// <summary>Creates a pool that keeps up to <paramref name="idleBytesPerLevel"/> idle bytes per level (at least 2 buffers).</summary>
    public BufferPool(long idleBytesPerLevel = 64L << 20)
    {
        _levels = new Stack<NativeBuffer>[LevelCount];
        _levelLimits = new int[LevelCount];
        for (var i = 0; i < LevelCount; i++)
        {
            _levels[i] = new Stack<NativeBuffer>();
            _levelLimits[i] = (int)Math.Clamp(idleBytesPerLevel >> (MinShift + i), 2, 256);
        }
    }

    /// <summary>Buffers rented and not yet returned.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Rents a buffer of at least <paramref name="length"/> bytes; its <see cref="NativeBuffer.Length"/> is exactly <paramref name="length"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative or above <see cref="MaxBufferSize"/>.</exception>
    public NativeBuffer Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, MaxBufferSize);
        var level = LevelOf(length);
        NativeBuffer? buffer = null;
        var stack = _levels[level];
        lock (stack)
        {
            stack.TryPop(out buffer);
        }

        buffer ??= new NativeBuffer(1 << (MinShift + level), this);
        buffer.OnRent(length);
        Interlocked.Increment(ref _outstanding);
        return buffer;
    }

    internal bool Return(NativeBuffer buffer)
    {
        Interlocked.Decrement(ref _outstanding);
        var level = LevelOf(buffer.Capacity);
        var stack = _levels[level];
        lock (stack)
        {
            if (_disposed || stack.Count >= _levelLimits[level])
            {
                return false;
            }

            stack.Push(buffer);
            return true;
        }
    }

    /// <summary>Frees every idle buffer; buffers still rented are freed when returned.</summary>
    public void Dispose()
    {
        foreach (var stack in _levels)
        {
            lock (stack)
            {
                _disposed = true;
                while (stack.TryPop(out var buffer))
                {
                    buffer.Free();
                }
            }
        }
    }

    private static int LevelOf(int length) =>
        length <= 1 << MinShift ? 0 : BitOperations.Log2((uint)length - 1) + 1 - MinShift;
}
