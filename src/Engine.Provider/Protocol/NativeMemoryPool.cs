using System.Buffers;
using Engine.Blocks.Buffers;

namespace Engine.Provider.Protocol;

/// <summary>
/// A <see cref="MemoryPool{T}"/> over a private <see cref="BufferPool"/>, for the input pipe. An over-long line
/// passes through up to <see cref="ProviderProtocolHost.MaxLineBytes"/> of segments before it is dropped; from the
/// shared array pool those would be garbage promoted to gen2 by then, piling up to several times the limit before a
/// full collection. Native segments are freed when returned, so memory stays at one limit's worth.
/// </summary>
internal sealed class NativeMemoryPool : MemoryPool<byte>
{
    // One pipe read's worth of idle segments is kept; the rest of a long line's segments are freed.
    private readonly BufferPool _buffers = new(idleBytesPerLevel: 1 << 20);

    /// <inheritdoc />
    public override int MaxBufferSize => BufferPool.MaxBufferSize;

    /// <inheritdoc />
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => _buffers.Rent(minBufferSize < 0 ? 4096 : minBufferSize);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _buffers.Dispose();
        }
    }
}
