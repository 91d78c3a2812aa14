using Engine.Blocks;

namespace Engine.Nbd.Server.MetaContexts;

/// <summary>
/// A metadata context that <c>NBD_CMD_BLOCK_STATUS</c> can report, such as <c>base:allocation</c>,
/// <c>qemu:dirty-bitmap:NAME</c> or <c>qemu:allocation-depth</c>. Register one on an export through
/// <see cref="NbdExport.MetaContexts"/>.
/// </summary>
public interface IMetaContext
{
    /// <summary>Full name, <c>namespace:leaf</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Appends extents describing a prefix of <c>[offset, offset+length)</c>, starting exactly at
    /// <paramref name="offset"/>, and returns the number of bytes covered (at least 1). The
    /// <see cref="Extent.Flags"/> of each extent is the context's 32-bit status word.
    /// </summary>
    ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken);
}
