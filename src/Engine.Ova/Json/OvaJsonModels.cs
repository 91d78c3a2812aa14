namespace Engine.Ova.Json;

/// <summary>
/// <c>engine ova inspect --json</c>: <c>qm</c>, <c>disks</c> and <c>net</c> carry exactly the keys of PVE's
/// <c>parse_ovf</c> result (plus <c>format</c> per disk), so scripts can compare the two; everything PVE does not
/// know lives under <c>extra</c>.
/// </summary>
internal sealed class OvaInspectJson
{
    /// <summary>PVE's <c>qm</c> hash: qm.conf keys.</summary>
    public required PveQmJson Qm { get; init; }

    /// <summary>PVE's <c>disks</c> array.</summary>
    public required List<PveDiskJson> Disks { get; init; }

    /// <summary>PVE's <c>net</c> hash: <c>net0</c>, <c>net1</c>...</summary>
    public required Dictionary<string, PveNetJson> Net { get; init; }

    /// <summary>What PVE leaves out.</summary>
    public required OvaExtraJson Extra { get; init; }
}

/// <summary>qm.conf settings derived from the descriptor.</summary>
internal sealed class PveQmJson
{
    /// <summary>The sanitised VM name.</summary>
    public string? Name { get; init; }

    /// <summary>vCPUs.</summary>
    public int? Cores { get; init; }

    /// <summary>Memory in MiB.</summary>
    public long? Memory { get; init; }

    /// <summary>PVE ostype.</summary>
    public required string Ostype { get; init; }

    /// <summary><c>ovmf</c> for EFI firmware, absent otherwise.</summary>
    public string? Bios { get; init; }

    /// <summary><c>order=scsi0;scsi1</c>.</summary>
    public string? Boot { get; init; }
}

/// <summary>One disk as PVE reports it.</summary>
internal sealed class PveDiskJson
{
    /// <summary>The drive key (<c>scsi0</c>).</summary>
    public required string DiskAddress { get; init; }

    /// <summary>Capacity in bytes.</summary>
    public long? VirtualSize { get; init; }

    /// <summary>The file's name relative to the descriptor; absent for blank disks.</summary>
    public string? RelativePath { get; init; }

    /// <summary>Absolute path of the file, for a descriptor on disk.</summary>
    public string? BackingFile { get; init; }

    /// <summary>Image format: vmdk, qcow2 or raw.</summary>
    public required string Format { get; init; }
}

/// <summary>A NIC as PVE reports it.</summary>
internal sealed class PveNetJson
{
    /// <summary>NIC model.</summary>
    public required string Model { get; init; }
}

/// <summary>Descriptor facts beyond PVE's result.</summary>
internal sealed class OvaExtraJson
{
    /// <summary>OVF envelope major version (1 or 2).</summary>
    public int OvfVersion { get; init; }

    /// <summary>The <c>ovf:id</c> of the virtual system described.</summary>
    public required string VirtualSystem { get; init; }

    /// <summary>All virtual systems (several in a VirtualSystemCollection).</summary>
    public required List<string> VirtualSystems { get; init; }

    /// <summary>The name as written, before sanitising.</summary>
    public string? RawName { get; init; }

    /// <summary>CIM operating system id.</summary>
    public int? OsId { get; init; }

    /// <summary>VMware's osType hint.</summary>
    public string? VmwareOstype { get; init; }

    /// <summary>Who declared the firmware (vmware, virtualbox).</summary>
    public string? FirmwareSource { get; init; }

    /// <summary>VMware's <c>vmw:CoresPerSocket</c> of the processor item (PVE: <c>cores</c> = this, <c>sockets</c> = vCPUs / this).</summary>
    public int? CoresPerSocket { get; init; }

    /// <summary>Memory VirtualQuantity as written (PVE's memory value).</summary>
    public string? MemoryQuantity { get; init; }

    /// <summary>Memory AllocationUnits as written.</summary>
    public string? MemoryUnits { get; init; }

    /// <summary>Disk details, in the order of <c>disks</c>.</summary>
    public required List<OvaDiskExtraJson> Disks { get; init; }

    /// <summary>NIC details, in the order of <c>net</c>.</summary>
    public required List<OvaNicExtraJson> Nets { get; init; }

    /// <summary>The manifest, when there is one.</summary>
    public OvaManifestJson? Manifest { get; init; }

    /// <summary>Archive members (OVA only).</summary>
    public List<OvaMemberJson>? Members { get; init; }

    /// <summary>Things skipped or guessed.</summary>
    public required List<string> Warnings { get; init; }
}

/// <summary>Disk facts PVE does not report.</summary>
internal sealed class OvaDiskExtraJson
{
    /// <summary>The drive key, as in <c>disks</c>.</summary>
    public required string DiskAddress { get; init; }

    /// <summary>ide, scsi, sata or nvme.</summary>
    public required string Controller { get; init; }

    /// <summary>The controller's ResourceSubType.</summary>
    public string? ControllerSubtype { get; init; }

    /// <summary>Controller bus number.</summary>
    public int Bus { get; init; }

    /// <summary>AddressOnParent.</summary>
    public int Unit { get; init; }

    /// <summary>DiskSection id.</summary>
    public string? DiskId { get; init; }

    /// <summary>References file id.</summary>
    public string? FileId { get; init; }

    /// <summary>Declared stored size of the file.</summary>
    public long? FileSize { get; init; }

    /// <summary>gzip when the file is compressed.</summary>
    public string? Compression { get; init; }

    /// <summary>Chunk size when the file is split.</summary>
    public long? ChunkSize { get; init; }

    /// <summary>True for a disk without a file.</summary>
    public bool Blank { get; init; }

    /// <summary>The ovf:format URI.</summary>
    public string? OvfFormat { get; init; }

    /// <summary>ovf:capacity as written.</summary>
    public string? Capacity { get; init; }

    /// <summary>ovf:capacityAllocationUnits as written.</summary>
    public string? CapacityUnits { get; init; }
}

/// <summary>NIC facts PVE does not report.</summary>
internal sealed class OvaNicExtraJson
{
    /// <summary>net0...</summary>
    public required string Key { get; init; }

    /// <summary>ResourceSubType as written.</summary>
    public string? Subtype { get; init; }

    /// <summary>Connection (network name).</summary>
    public string? Network { get; init; }
}

/// <summary>The manifest's entries.</summary>
internal sealed class OvaManifestJson
{
    /// <summary>Member name of the manifest.</summary>
    public required string Name { get; init; }

    /// <summary>file → "ALG:hex".</summary>
    public required Dictionary<string, string> Entries { get; init; }
}

/// <summary>One archive member.</summary>
internal sealed class OvaMemberJson
{
    /// <summary>Name as stored.</summary>
    public required string Name { get; init; }

    /// <summary>Member type.</summary>
    public required string Type { get; init; }

    /// <summary>Data size.</summary>
    public long Size { get; init; }

    /// <summary>Data offset in the archive.</summary>
    public long Offset { get; init; }
}

/// <summary><c>engine ova import --json</c>: one entry per disk written.</summary>
internal sealed class OvaImportJson
{
    /// <summary>The disks written.</summary>
    public required List<OvaImportedDiskJson> Disks { get; init; }
}

/// <summary>A disk the importer wrote.</summary>
internal sealed class OvaImportedDiskJson
{
    /// <summary>The drive key.</summary>
    public required string DiskAddress { get; init; }

    /// <summary>The file inside the package, absent for blank disks.</summary>
    public string? Source { get; init; }

    /// <summary>The source image format.</summary>
    public required string SourceFormat { get; init; }

    /// <summary>The output path.</summary>
    public required string Output { get; init; }

    /// <summary>The output format.</summary>
    public required string Format { get; init; }

    /// <summary>Virtual size in bytes.</summary>
    public long VirtualSize { get; init; }

    /// <summary>Bytes of data written (zero ranges are left as holes).</summary>
    public long DataBytes { get; init; }

    /// <summary>verified, unlisted (manifest without this file) or absent (no manifest).</summary>
    public required string Manifest { get; init; }
}
