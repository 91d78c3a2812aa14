using System.Buffers;

namespace Engine.Nbd.Transport;

/// <summary>
/// A reusable <see cref="Memory{T}"/> view of memory the caller keeps pinned or native (a pooled buffer, a span under
/// <c>fixed</c>), for stream APIs that take <see cref="Memory{T}"/> where the caller only has a pointer. One instance
/// per thread that uses it, re-aimed for each call; the caller must not let the memory escape the call, which holds
/// for streams whose calls complete before they return (TLS sessions over a blocking socket). Saves the copy that
/// <see cref="Stream.Write(ReadOnlySpan{byte})"/> makes into a rented array when a stream lacks a span override.
/// </summary>
internal sealed unsafe class PointerMemory : MemoryManager<byte>
{
    private byte* _pointer;
    private int _length;

    /// <summary>Aims the view at <paramref name="length"/> bytes at <paramref name="pointer"/>.</summary>
    public Memory<byte> Aim(byte* pointer, int length)
    {
        _pointer = pointer;
        _length = length;
        return Memory;
    }

    /// <inheritdoc/>
    public override Span<byte> GetSpan() => new(_pointer, _length);

    /// <inheritdoc/>
    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    /// <inheritdoc/>
    public override void Unpin()
    {
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        _pointer = null;
        _length = 0;
    }
}
