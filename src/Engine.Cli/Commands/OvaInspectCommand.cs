using System.CommandLine;
using Engine.Ova;
using Engine.Ova.Import;
using Engine.Ova.Json;
using Engine.Ova.Ovf;
using Engine.Ova.Vmdk;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine ova inspect FILE.ova|FILE.ovf [--json] [--vm ID]</c>: the VM configuration and disks PVE would derive,
/// and what it would miss. With <c>--json</c>, <c>qm</c>, <c>disks</c> and <c>net</c> use PVE's <c>parse_ovf</c> keys.
/// </summary>
internal static class OvaInspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "An .ova archive, or an .ovf descriptor next to its disks." };
        var json = new Option<bool>("--json") { Description = "Machine-readable output (PVE parse_ovf keys, plus 'extra')." };
        var vm = new Option<string?>("--vm") { Description = "Virtual system of a collection to describe (id or name; default: the first)." };
        var command = new Command("inspect", "Show the VM configuration and disks of an OVA or OVF.") { file, json, vm };
        command.SetAction((parse, _) => Task.FromResult(Run(parse.GetValue(file)!, parse.GetValue(json), parse.GetValue(vm))));
        return command;
    }

    private static int Run(string path, bool json, string? vm)
    {
        try
        {
            var (descriptor, package, backing) = Load(path);
            var system = Select(descriptor, vm);
            var document = OvaInspection.Build(descriptor, system, package, backing);
            if (json)
            {
                OvaCommand.WriteJson(document, OvaCommand.Json.OvaInspectJson);
            }
            else
            {
                Print(document, path);
            }

            foreach (var warning in system.Warnings)
            {
                Console.Error.WriteLine($"engine ova inspect: warning: {DisplayText.Printable(warning)}");
            }

            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is OvaFormatException or IOException or UnauthorizedAccessException)
        {
            return OvaCommand.Fail("inspect", e);
        }
    }

    private static (OvfDescriptor, OvaPackage?, Func<OvfDiskAttachment, (string, long?)>?) Load(string path)
    {
        if (path.EndsWith(".ovf", StringComparison.OrdinalIgnoreCase))
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                throw new FileNotFoundException($"{path}: no such file", path);
            }

            if (info.Length > OvfParser.MaxDescriptorBytes)
            {
                throw new OvaFormatException($"{path}: descriptor is {info.Length} bytes, more than the {OvfParser.MaxDescriptorBytes}-byte limit");
            }

            var descriptor = OvfParser.Parse(File.ReadAllBytes(path), path);
            var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
            return (descriptor, null, disk => Backing(folder, disk));
        }

        using var archive = OvaCommand.OpenArchive(path);
        if (!archive.CanSeek)
        {
            throw new OvaFormatException($"{path}: inspect needs a seekable archive, not a pipe");
        }

        var package = OvaPackage.Scan(archive, path);
        return (package.Descriptor, package, null);
    }

    /// <summary>PVE reports a descriptor-on-disk's disk by its absolute path and real virtual size.</summary>
    private static (string, long?) Backing(string folder, OvfDiskAttachment disk)
    {
        var path = Path.GetFullPath(Path.Combine(folder, disk.File!.Href));
        if (!path.StartsWith(folder + "/", StringComparison.Ordinal) || !File.Exists(path))
        {
            return (path, null);
        }

        using var stream = File.OpenRead(path);
        var header = new byte[SparseExtentHeader.Size];
        var read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        return ImageFormatDetector.Detect(header.AsSpan(0, read)) switch
        {
            ImageFormat.SparseVmdk => (path, SparseExtentHeader.Parse(header, path, long.MaxValue).CapacityBytes),
            ImageFormat.Raw => (path, stream.Length),
            _ => (path, null),
        };
    }

    private static OvfVirtualSystem Select(OvfDescriptor descriptor, string? vm)
    {
        if (vm is null)
        {
            return descriptor.VirtualSystems[0];
        }

        foreach (var system in descriptor.VirtualSystems)
        {
            if (system.Id == vm || system.RawName == vm || system.Name == vm)
            {
                return system;
            }
        }

        throw new OvaFormatException($"no virtual system '{vm}'");
    }

    private static void Print(OvaInspectJson document, string path)
    {
        var output = Console.Out;
        var qm = document.Qm;
        output.WriteLine($"{path}:");
        output.WriteLine($"\tname: {qm.Name ?? "(none)"}");
        output.WriteLine($"\tcores: {qm.Cores?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}");
        output.WriteLine($"\tmemory: {(qm.Memory is { } memory ? Sizes.Format(memory << 20) : "?")}");
        output.WriteLine($"\tostype: {qm.Ostype}{(document.Extra.OsId is { } id ? $" (CIM id {id})" : string.Empty)}");
        output.WriteLine($"\tbios: {qm.Bios ?? "seabios"}");
        if (qm.Boot is not null)
        {
            output.WriteLine($"\tboot: {qm.Boot}");
        }

        if (document.Extra.VirtualSystems.Count > 1)
        {
            output.WriteLine($"\tvirtual systems: {string.Join(", ", document.Extra.VirtualSystems)} (showing {document.Extra.VirtualSystem})");
        }

        for (var i = 0; i < document.Disks.Count; i++)
        {
            var disk = document.Disks[i];
            var extra = document.Extra.Disks[i];
            var size = disk.VirtualSize is { } bytes ? Sizes.Format(bytes) : "size unknown";
            var file = disk.RelativePath ?? "(blank disk)";
            var packing = extra.Compression is null ? string.Empty : $", {extra.Compression}";
            packing += extra.ChunkSize is null ? string.Empty : $", chunks of {Sizes.Format(extra.ChunkSize.Value)}";
            output.WriteLine($"\t{disk.DiskAddress}: {file} ({disk.Format}{packing}), {size}, {extra.Controller} bus {extra.Bus} unit {extra.Unit}");
        }

        foreach (var (key, nic) in document.Net)
        {
            output.WriteLine($"\t{key}: {nic.Model}");
        }

        if (document.Extra.Manifest is { } manifest)
        {
            output.WriteLine($"\tmanifest: {manifest.Name} ({manifest.Entries.Count} files)");
        }
    }
}
