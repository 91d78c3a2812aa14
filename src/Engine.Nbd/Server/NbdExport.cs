using Engine.Blocks;
using Engine.Nbd.Server.MetaContexts;

namespace Engine.Nbd.Server;

/// <summary>One named block device that an <see cref="NbdServer"/> offers to clients.</summary>
public sealed class NbdExport
{
    /// <summary>Creates an export; <c>base:allocation</c> is registered on it automatically.</summary>
    /// <param name="name">Export name, at most 4096 UTF-8 bytes; "" is allowed.</param>
    /// <param name="device">The device served; the export does not own it.</param>
    /// <param name="description">Optional human-readable text sent as <c>NBD_INFO_DESCRIPTION</c>.</param>
    /// <param name="readOnly">Refuse writes even if the device accepts them.</param>
    public NbdExport(string name, IBlockDevice device, string? description = null, bool readOnly = false)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(device);
        if (System.Text.Encoding.UTF8.GetByteCount(name) > Protocol.NbdWire.MaxStringLength)
        {
            throw new ArgumentException("export name is longer than 4096 bytes", nameof(name));
        }

        Name = name;
        Device = device;
        Description = description;
        ReadOnly = readOnly || device.Capabilities.HasFlag(BlockDeviceCapabilities.ReadOnly);
        MetaContexts.Register(new BaseAllocationContext(device));
    }

    /// <summary>The export name clients ask for.</summary>
    public string Name { get; }

    /// <summary>Optional description.</summary>
    public string? Description { get; }

    /// <summary>The device served.</summary>
    public IBlockDevice Device { get; }

    /// <summary>Whether writes are refused with <c>EPERM</c>.</summary>
    public bool ReadOnly { get; }

    /// <summary>Who may use the export (<c>--allow</c>, <c>--allow-uid</c>); null admits every client.</summary>
    public Access.ExportAccess? Access { get; init; }

    /// <summary>Metadata contexts offered for <c>NBD_CMD_BLOCK_STATUS</c>.</summary>
    public MetaContextRegistry MetaContexts { get; } = new();
}
