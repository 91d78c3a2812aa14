namespace Engine.Ova.Ovf;

/// <summary>A <c>References/File</c> element: one file of the package.</summary>
/// <param name="Id">The <c>ovf:id</c> other elements refer to.</param>
/// <param name="Href">The file's name relative to the descriptor, normalised (no <c>./</c>, never absolute or climbing).</param>
/// <param name="Size">The declared <c>ovf:size</c> in bytes (of the stored file: after compression, all chunks together).</param>
/// <param name="Compression">The <c>ovf:compression</c> value (<c>gzip</c>) or null.</param>
/// <param name="ChunkSize">The <c>ovf:chunkSize</c> in bytes when the file is stored as numbered chunks.</param>
public sealed record OvfFile(string Id, string Href, long? Size, string? Compression, long? ChunkSize)
{
    /// <summary>The member name of chunk <paramref name="index"/>: <c>href.000000000</c>, <c>href.000000001</c>, ...</summary>
    public string ChunkName(int index) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Href}.{index:D9}");
}

/// <summary>A <c>DiskSection/Disk</c> element: a virtual disk and its capacity.</summary>
/// <param name="DiskId">The <c>ovf:diskId</c>.</param>
/// <param name="FileRef">The <c>ovf:fileRef</c>, or null for a blank disk.</param>
/// <param name="CapacityBytes">Capacity × capacityAllocationUnits in bytes, or null if it could not be evaluated.</param>
/// <param name="Capacity">The raw <c>ovf:capacity</c> text.</param>
/// <param name="CapacityUnits">The raw <c>ovf:capacityAllocationUnits</c> text, or null.</param>
/// <param name="FormatUri">The <c>ovf:format</c> URI, or null.</param>
public sealed record OvfDiskDefinition(string DiskId, string? FileRef, long? CapacityBytes, string Capacity, string? CapacityUnits, string? FormatUri);

/// <summary>A disk drive of a virtual system, resolved to its controller, definition and file.</summary>
/// <param name="Address">The PVE drive key (<c>scsi0</c>, <c>sata1</c>, <c>ide2</c>).</param>
/// <param name="Controller">The controller kind as described: <c>ide</c>, <c>scsi</c>, <c>sata</c> or <c>nvme</c>.</param>
/// <param name="ControllerSubType">The controller's <c>ResourceSubType</c> (<c>lsilogic</c>, <c>vmware.nvme.controller</c>...).</param>
/// <param name="Bus">The controller's bus number.</param>
/// <param name="Unit">The drive's <c>AddressOnParent</c> on that controller.</param>
/// <param name="Definition">The disk's definition, or null for a drive referring straight to a file.</param>
/// <param name="File">The file holding the disk's contents, or null for a blank disk.</param>
/// <param name="Format">The expected image format: <c>vmdk</c>, <c>qcow2</c>, <c>raw</c>.</param>
/// <param name="VirtualSize">The disk's capacity in bytes, if the descriptor states it.</param>
public sealed record OvfDiskAttachment(string Address, string Controller, string? ControllerSubType, int Bus, int Unit, OvfDiskDefinition? Definition, OvfFile? File, string Format, long? VirtualSize)
{
    /// <summary>Whether the disk has no file: the importer creates an empty sparse disk of its capacity.</summary>
    public bool IsBlank => File is null;
}

/// <summary>A network adapter.</summary>
/// <param name="Key">The PVE key (<c>net0</c>).</param>
/// <param name="Model">The PVE model (<c>e1000</c>, <c>e1000e</c>, <c>vmxnet3</c>, <c>virtio</c>, <c>pcnet</c>...; see <see cref="NicModels"/>).</param>
/// <param name="SubType">The raw <c>ResourceSubType</c>.</param>
/// <param name="Network">The <c>Connection</c> (network name), if any.</param>
public sealed record OvfNic(string Key, string Model, string? SubType, string? Network);

/// <summary>One <c>VirtualSystem</c>: the VM configuration PVE derives, plus what PVE ignores.</summary>
public sealed record OvfVirtualSystem
{
    /// <summary>The <c>ovf:id</c> attribute.</summary>
    public required string Id { get; init; }

    /// <summary>The <c>Name</c> element as written, or null.</summary>
    public string? RawName { get; init; }

    /// <summary>The name reduced to PVE's DNS-safe characters (letters, digits, '-', '.'), or null if nothing is left.</summary>
    public string? Name { get; init; }

    /// <summary>The processor item's <c>VirtualQuantity</c>.</summary>
    public int? Cores { get; init; }

    /// <summary>
    /// VMware's <c>vmw:CoresPerSocket</c> in the processor item: the guest's CPU topology (licensing, NUMA), which PVE's
    /// importer drops (it makes every vCPU a core of one socket).
    /// </summary>
    public int? CoresPerSocket { get; init; }

    /// <summary>Memory in MiB, after applying the memory item's <c>AllocationUnits</c>.</summary>
    public long? MemoryMiB { get; init; }

    /// <summary>The memory item's raw <c>VirtualQuantity</c> (what PVE reports) and units.</summary>
    public string? MemoryQuantity { get; init; }

    /// <summary>The memory item's <c>AllocationUnits</c>.</summary>
    public string? MemoryUnits { get; init; }

    /// <summary>The CIM operating system id of <c>OperatingSystemSection</c>.</summary>
    public int? OsId { get; init; }

    /// <summary>VMware's <c>vmw:osType</c> hint.</summary>
    public string? VmwareOsType { get; init; }

    /// <summary>The PVE ostype from the CIM table (<c>other</c> when unknown).</summary>
    public required string OsType { get; init; }

    /// <summary>Whether the VM boots with EFI firmware.</summary>
    public bool Efi { get; init; }

    /// <summary>Where the firmware setting came from (<c>vmware</c>, <c>virtualbox</c>) or null.</summary>
    public string? FirmwareSource { get; init; }

    /// <summary>Disk drives in descriptor order.</summary>
    public required IReadOnlyList<OvfDiskAttachment> Disks { get; init; }

    /// <summary>Network adapters in descriptor order.</summary>
    public required IReadOnlyList<OvfNic> Nics { get; init; }

    /// <summary>Things skipped or guessed, for the user to review.</summary>
    public required IReadOnlyList<string> Warnings { get; init; }

    /// <summary>PVE's boot setting: <c>order=</c> and the drives with a file, in descriptor order; null without such drives.</summary>
    public string? Boot
    {
        get
        {
            var order = new List<string>();
            foreach (var disk in Disks)
            {
                if (!disk.IsBlank)
                {
                    order.Add(disk.Address);
                }
            }

            return order.Count == 0 ? null : "order=" + string.Join(';', order);
        }
    }
}

/// <summary>A parsed OVF descriptor.</summary>
/// <param name="OvfVersion">The envelope version: <c>1</c> or <c>2</c>.</param>
/// <param name="Files">The <c>References</c> section.</param>
/// <param name="DiskDefinitions">The <c>DiskSection</c>.</param>
/// <param name="VirtualSystems">The virtual systems: one, or the members of a <c>VirtualSystemCollection</c>.</param>
public sealed record OvfDescriptor(int OvfVersion, IReadOnlyList<OvfFile> Files, IReadOnlyList<OvfDiskDefinition> DiskDefinitions, IReadOnlyList<OvfVirtualSystem> VirtualSystems)
{
    /// <summary>The file with this href, or null.</summary>
    public OvfFile? FindFile(string href)
    {
        foreach (var file in Files)
        {
            if (string.Equals(file.Href, href, StringComparison.Ordinal))
            {
                return file;
            }
        }

        return null;
    }
}
