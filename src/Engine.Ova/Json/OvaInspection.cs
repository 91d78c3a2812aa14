using Engine.Ova.Import;
using Engine.Ova.Ovf;

namespace Engine.Ova.Json;

/// <summary>Builds the <c>inspect --json</c> document from a parsed descriptor.</summary>
internal static class OvaInspection
{
    /// <summary>The document for one virtual system.</summary>
    /// <param name="descriptor">The parsed descriptor.</param>
    /// <param name="system">The virtual system described (one of <paramref name="descriptor"/>'s).</param>
    /// <param name="package">The archive's table of contents, for an OVA.</param>
    /// <param name="backingFile">For a descriptor on disk: the absolute path of a disk's file, and its real virtual size if readable.</param>
    public static OvaInspectJson Build(OvfDescriptor descriptor, OvfVirtualSystem system, OvaPackage? package, Func<OvfDiskAttachment, (string Path, long? VirtualSize)>? backingFile)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        ArgumentNullException.ThrowIfNull(system);
        var disks = new List<PveDiskJson>(system.Disks.Count);
        var diskExtras = new List<OvaDiskExtraJson>(system.Disks.Count);
        foreach (var disk in system.Disks)
        {
            string? backing = null;
            var size = disk.VirtualSize;
            if (backingFile is not null && disk.File is not null)
            {
                var (path, actual) = backingFile(disk);
                backing = path;
                size = actual ?? size;
            }

            disks.Add(new PveDiskJson
            {
                DiskAddress = disk.Address,
                VirtualSize = size,
                RelativePath = disk.File?.Href,
                BackingFile = backing,
                Format = disk.Format,
            });
            diskExtras.Add(new OvaDiskExtraJson
            {
                DiskAddress = disk.Address,
                Controller = disk.Controller,
                ControllerSubtype = disk.ControllerSubType,
                Bus = disk.Bus,
                Unit = disk.Unit,
                DiskId = disk.Definition?.DiskId,
                FileId = disk.File?.Id,
                FileSize = disk.File?.Size,
                Compression = disk.File?.Compression,
                ChunkSize = disk.File?.ChunkSize,
                Blank = disk.IsBlank,
                OvfFormat = disk.Definition?.FormatUri,
                Capacity = disk.Definition?.Capacity,
                CapacityUnits = disk.Definition?.CapacityUnits,
            });
        }

        var net = new Dictionary<string, PveNetJson>(StringComparer.Ordinal);
        var nicExtras = new List<OvaNicExtraJson>(system.Nics.Count);
        foreach (var nic in system.Nics)
        {
            net[nic.Key] = new PveNetJson { Model = nic.Model };
            nicExtras.Add(new OvaNicExtraJson { Key = nic.Key, Subtype = nic.SubType, Network = nic.Network });
        }

        var systems = new List<string>(descriptor.VirtualSystems.Count);
        foreach (var other in descriptor.VirtualSystems)
        {
            systems.Add(other.Id);
        }

        return new OvaInspectJson
        {
            Qm = new PveQmJson
            {
                Name = system.Name,
                Cores = system.Cores,
                Memory = system.MemoryMiB,
                Ostype = system.OsType,
                Bios = system.Efi ? "ovmf" : null,
                Boot = system.Boot,
            },
            Disks = disks,
            Net = net,
            Extra = new OvaExtraJson
            {
                OvfVersion = descriptor.OvfVersion,
                VirtualSystem = system.Id,
                VirtualSystems = systems,
                RawName = system.RawName,
                OsId = system.OsId,
                VmwareOstype = system.VmwareOsType,
                FirmwareSource = system.FirmwareSource,
                CoresPerSocket = system.CoresPerSocket,
                MemoryQuantity = system.MemoryQuantity,
                MemoryUnits = system.MemoryUnits,
                Disks = diskExtras,
                Nets = nicExtras,
                Manifest = Manifest(package),
                Members = Members(package),
                Warnings = [.. system.Warnings],
            },
        };
    }

    private static OvaManifestJson? Manifest(OvaPackage? package)
    {
        if (package?.Manifest is not { } manifest)
        {
            return null;
        }

        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, entry) in manifest.Entries)
        {
            entries[name] = entry.ToString();
        }

        return new OvaManifestJson { Name = manifest.Name, Entries = entries };
    }

    private static List<OvaMemberJson>? Members(OvaPackage? package)
    {
        if (package is null)
        {
            return null;
        }

        var members = new List<OvaMemberJson>(package.Members.Count);
        foreach (var member in package.Members)
        {
            members.Add(new OvaMemberJson { Name = member.Name, Type = member.Type.ToString(), Size = member.Size, Offset = member.DataOffset });
        }

        return members;
    }
}
