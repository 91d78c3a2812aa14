using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.MetaContexts;

/// <summary><c>base:allocation</c>: holes and zeroes, straight from the device's extents.</summary>
internal sealed class BaseAllocationContext(IBlockDevice device) : IMetaContext
{
    /// <inheritdoc />
    public string Name => NbdWire.BaseAllocation;

    /// <inheritdoc />
    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken) =>
        device.GetExtentsAsync(offset, length, extents, cancellationToken);
}
