using System.Buffers;
using System.Runtime.InteropServices;

namespace Engine.Blocks.Buffers;

/// <summary>
/// A page-aligned block of native memory, exposed as <see cref="Memory{T}"/>. Aligned so that it can be used for
/// O_DIRECT I/O; native so that the GC never moves it and pinning is free. Rented from a <see cref="BufferPool"/>;
/// <see cref="Dispose()"/> returns it. A buffer must not be used after it is returned.
/// </summary>
public sealed unsafe class NativeBuffer : MemoryManager<byte>
{
    private readonly BufferPool? _owner;
    private byte* _pointer;
    private int _rented;

    internal NativeBuffer(int capacity, BufferPool? owner)
    {
        Capacity = capacity;
        _owner = owner;
        _pointer = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, BufferPool.Alignment);
    }

    /// <summary>Allocated size in bytes (a power of two).</summary>
    public int Capacity { get; }

    /// <summary>Length the renter asked for.</summary>
    public int Length { get; private set; }

    /// <summary>Address of the first byte; stable for the buffer's life.</summary>
    internal byte* Pointer => _pointer;

    /// <summary>The rented bytes as a span.</summary>
    public Span<byte> Span => new(_pointer, Length);

    /// <inheritdoc />
    public override Span<byte> GetSpan() => new(_pointer, Length);

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    /// <inheritdoc />
    public override void Unpin()
    {
    }

    /// <summary>Returns the buffer to its pool (or frees it when it has none).</summary>
    public void Dispose() => ((IDisposable)this).Dispose();

    internal void OnRent(int length)
    {
        if (Interlocked.Exchange(ref _rented, 1) != 0)
        {
            throw new InvalidOperationException("buffer rented twice");
        }

        Length = length;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _rented, 0) == 0)
        {
            // Returning twice would hand the same memory to two renters: refuse loudly.
            if (disposing && _pointer != null)
            {
                throw new InvalidOperationException("buffer returned twice");
            }

            return;
        }

        if (_owner is null || !_owner.Return(this))
        {
            Free();
        }
    }

    internal void Free()
    {
        if (_pointer != null)
        {
            NativeMemory.AlignedFree(_pointer);
            _pointer = null;
        }
    }
}
