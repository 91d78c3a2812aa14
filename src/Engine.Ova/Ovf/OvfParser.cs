using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;
using Engine.Ova.Tar;

namespace Engine.Ova.Ovf;

/// <summary>
/// Parses an OVF descriptor (OVF 1.x and 2.x envelopes) safely: no DTDs, no resolver, a size cap; then resolves
/// each virtual system's disks (item → controller → disk definition → file) and NICs the way PVE does, and
/// further where PVE stops (docs/ova.md lists every divergence).
/// </summary>
public static class OvfParser
{
    /// <summary>Largest descriptor accepted (real appliance descriptors stay below 1 MiB).</summary>
    public const int MaxDescriptorBytes = 16 << 20;

    private const string Ovf1 = "http://schemas.dmtf.org/ovf/envelope/1";
    private const string Ovf2 = "http://schemas.dmtf.org/ovf/envelope/2";
    private const string Vmware = "http://www.vmware.com/schema/ovf";

    private const int ResourceIde = 5;
    private const int ResourceScsi = 6;
    private const int ResourceOtherStorage = 20;
    private const int ResourceProcessor = 3;
    private const int ResourceMemory = 4;
    private const int ResourceEthernet = 10;
    private const int ResourceDisk = 17;

    /// <summary>Parses descriptor bytes.</summary>
    /// <param name="descriptor">The descriptor's bytes.</param>
    /// <param name="sourceName">Name for messages (the .ovf path or archive member).</param>
    /// <exception cref="OvaFormatException">Too large, not well-formed, has a DTD, is not an OVF envelope, or references files outside the package.</exception>
    public static OvfDescriptor Parse(ReadOnlySpan<byte> descriptor, string sourceName)
    {
        if (descriptor.Length > MaxDescriptorBytes)
        {
            throw new OvaFormatException($"{sourceName}: descriptor is {descriptor.Length} bytes, more than the {MaxDescriptorBytes}-byte limit");
        }

        XDocument document;
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            MaxCharactersInDocument = MaxDescriptorBytes,
            MaxCharactersFromEntities = 1024,
            IgnoreComments = true,
            IgnoreProcessingInstructions = true,
            IgnoreWhitespace = true,
        };
        try
        {
            using var stream = new MemoryStream(descriptor.ToArray(), writable: false);
            using var reader = XmlReader.Create(stream, settings);
            document = XDocument.Load(reader);
        }
        catch (XmlException e) when (e.Message.Contains("DTD", StringComparison.Ordinal))
        {
            throw new OvaFormatException($"{sourceName}: the descriptor has a DOCTYPE/DTD, which is refused (entity expansion and external entities are attack vectors)", e);
        }
        catch (XmlException e)
        {
            throw new OvaFormatException($"{sourceName}: not well-formed XML: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            // XmlReader switching to the declared encoding over bytes that end or break mid-character throws
            // ArgumentOutOfRangeException or DecoderFallbackException instead of an XmlException (found by fuzzing).
            throw new OvaFormatException($"{sourceName}: not well-formed XML: its bytes do not follow the encoding its declaration names", e);
        }

        return Interpret(document, sourceName);
    }

    private static OvfDescriptor Interpret(XDocument document, string sourceName)
    {
        var root = document.Root ?? throw new OvaFormatException($"{sourceName}: empty document");
        var ns = root.Name.NamespaceName;
        if (root.Name.LocalName != "Envelope" || ns is not (Ovf1 or Ovf2))
        {
            throw new OvaFormatException($"{sourceName}: root element is {root.Name}, not an OVF 1.x or 2.x Envelope");
        }

        var ovf = XNamespace.Get(ns);
        var files = new List<OvfFile>();
        foreach (var element in Children(root, ovf + "References", ovf + "File"))
        {
            files.Add(ParseFile(element, ovf, sourceName));
        }

        var definitions = new List<OvfDiskDefinition>();
        foreach (var section in root.Elements(ovf + "DiskSection"))
        {
            foreach (var element in section.Elements(ovf + "Disk"))
            {
                definitions.Add(ParseDiskDefinition(element, ovf, sourceName));
            }
        }

        var systemElements = new List<XElement>();
        CollectVirtualSystems(root, ovf, systemElements);
        if (systemElements.Count == 0)
        {
            throw new OvaFormatException($"{sourceName}: no VirtualSystem in the envelope");
        }

        var systems = new List<OvfVirtualSystem>(systemElements.Count);
        foreach (var element in systemElements)
        {
            systems.Add(ParseVirtualSystem(element, ovf, files, definitions, sourceName));
        }

        return new OvfDescriptor(ns == Ovf2 ? 2 : 1, files, definitions, systems);
    }

    private static void CollectVirtualSystems(XElement parent, XNamespace ovf, List<XElement> into)
    {
        foreach (var child in parent.Elements())
        {
            if (child.Name == ovf + "VirtualSystem")
            {
                into.Add(child);
            }
            else if (child.Name == ovf + "VirtualSystemCollection")
            {
                CollectVirtualSystems(child, ovf, into);
            }
        }
    }

    private static OvfFile ParseFile(XElement element, XNamespace ovf, string sourceName)
    {
        var id = Attribute(element, ovf, "id") ?? throw new OvaFormatException($"{sourceName}: a References/File has no ovf:id");
        CheckId(id, "file", sourceName);
        var href = Attribute(element, ovf, "href") ?? throw new OvaFormatException($"{sourceName}: file '{id}' has no ovf:href");
        var normalized = TarNames.Normalize(href);
        if (normalized is null || HasControlCharacters(normalized))
        {
            throw new OvaFormatException($"{sourceName}: file '{id}' references '{DisplayText.Printable(href)}', which is not a relative path inside the package");
        }

        var compression = Attribute(element, ovf, "compression");
        if (compression is not null && compression != "gzip" && compression != "identity")
        {
            throw new OvaFormatException($"{sourceName}: file '{id}' uses ovf:compression=\"{compression}\"; only gzip is defined by OVF");
        }

        var chunkSize = ParseLong(Attribute(element, ovf, "chunkSize"));
        if (chunkSize is <= 0)
        {
            throw new OvaFormatException($"{sourceName}: file '{id}' has ovf:chunkSize {chunkSize}");
        }

        return new OvfFile(id, normalized, ParseLong(Attribute(element, ovf, "size")), compression == "identity" ? null : compression, chunkSize);
    }

    private static OvfDiskDefinition ParseDiskDefinition(XElement element, XNamespace ovf, string sourceName)
    {
        var id = Attribute(element, ovf, "diskId") ?? string.Empty;
        CheckId(id, "disk", sourceName);
        var capacity = Attribute(element, ovf, "capacity") ?? string.Empty;
        var units = Attribute(element, ovf, "capacityAllocationUnits");
        long? bytes = null;
        if (long.TryParse(capacity, NumberStyles.None, CultureInfo.InvariantCulture, out var quantity)
            && ProgrammaticUnits.TryParseMultiplier(units, out var multiplier)
            && (quantity == 0 || multiplier <= long.MaxValue / quantity))
        {
            bytes = quantity * multiplier;
        }

        var fileRef = Attribute(element, ovf, "fileRef");
        return new OvfDiskDefinition(id, string.IsNullOrEmpty(fileRef) ? null : fileRef, bytes, capacity, units, Attribute(element, ovf, "format"));
    }

    private static OvfVirtualSystem ParseVirtualSystem(XElement system, XNamespace ovf, List<OvfFile> files, List<OvfDiskDefinition> definitions, string sourceName)
    {
        var warnings = new List<string>();
        var id = Attribute(system, ovf, "id") ?? string.Empty;
        var rawName = system.Element(ovf + "Name")?.Value;
        var name = SanitizeName(string.IsNullOrEmpty(rawName) ? id : rawName);
        if (string.IsNullOrEmpty(rawName))
        {
            warnings.Add(string.IsNullOrEmpty(name) ? "no VM name in the descriptor" : $"no Name element; using the VirtualSystem id '{id}'");
        }

        var hardware = system.Element(ovf + "VirtualHardwareSection");
        var items = new List<XElement>();
        if (hardware is not null)
        {
            foreach (var child in hardware.Elements())
            {
                if (child.Name == ovf + "Item" || child.Name == ovf + "StorageItem" || child.Name == ovf + "EthernetPortItem")
                {
                    items.Add(child);
                }
            }
        }

        int? cores = null;
        int? coresPerSocket = null;
        long? memoryMiB = null;
        string? memoryQuantity = null;
        string? memoryUnits = null;
        foreach (var item in items)
        {
            switch (ResourceType(item))
            {
                case ResourceProcessor when cores is null:
                    cores = (int?)ParseLong(Value(item, "VirtualQuantity"));
                    coresPerSocket = (int?)ParseLong(item.Element(XNamespace.Get(Vmware) + "CoresPerSocket")?.Value);
                    break;
                case ResourceMemory when memoryQuantity is null:
                    memoryQuantity = Value(item, "VirtualQuantity");
                    memoryUnits = Value(item, "AllocationUnits");
                    memoryMiB = MemoryInMiB(memoryQuantity, memoryUnits, warnings);
                    break;
            }
        }

        var os = system.Element(ovf + "OperatingSystemSection");
        var osId = os is null ? null : (int?)ParseLong(Attribute(os, ovf, "id"));
        var (efi, firmwareSource) = Firmware(system, hardware);
        return new OvfVirtualSystem
        {
            Id = id,
            RawName = rawName,
            Name = string.IsNullOrEmpty(name) ? null : name,
            Cores = cores,
            CoresPerSocket = coresPerSocket is > 0 ? coresPerSocket : null,
            MemoryMiB = memoryMiB,
            MemoryQuantity = memoryQuantity,
            MemoryUnits = memoryUnits,
            OsId = osId,
            VmwareOsType = os?.Attribute(XNamespace.Get(Vmware) + "osType")?.Value,
            OsType = CimOsTypes.ToPveOsType(osId),
            Efi = efi,
            FirmwareSource = firmwareSource,
            Disks = ResolveDisks(items, ovf, files, definitions, warnings, sourceName),
            Nics = ResolveNics(items),
            Warnings = warnings,
        };
    }

    private static List<OvfDiskAttachment> ResolveDisks(List<XElement> items, XNamespace ovf, List<OvfFile> files, List<OvfDiskDefinition> definitions, List<string> warnings, string sourceName)
    {
        var controllers = new Dictionary<string, XElement>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var instance = Value(item, "InstanceID");
            if (instance is not null)
            {
                controllers.TryAdd(instance, item);
            }
        }

        var used = new HashSet<string>(StringComparer.Ordinal);
        var disks = new List<OvfDiskAttachment>();
        foreach (var item in items)
        {
            if (ResourceType(item) != ResourceDisk)
            {
                continue;
            }

            var label = Value(item, "ElementName") ?? Value(item, "InstanceID") ?? "?";
            var hostResource = Value(item, "HostResource") ?? string.Empty;
            var reference = hostResource.StartsWith("ovf:", StringComparison.Ordinal) ? hostResource[4..] : hostResource;
            OvfDiskDefinition? definition = null;
            OvfFile? file = null;
            if (reference.StartsWith("/disk/", StringComparison.Ordinal))
            {
                definition = Find(definitions, reference["/disk/".Length..]);
                if (definition is null)
                {
                    warnings.Add($"disk drive '{label}': host resource '{hostResource}' names no DiskSection disk; skipped");
                    continue;
                }

                if (definition.FileRef is not null)
                {
                    file = FindFile(files, definition.FileRef);
                    if (file is null)
                    {
                        throw new OvaFormatException($"{sourceName}: disk '{definition.DiskId}' refers to file '{definition.FileRef}', which is not in References");
                    }
                }
            }
            else if (reference.StartsWith("/file/", StringComparison.Ordinal))
            {
                file = FindFile(files, reference["/file/".Length..]);
                if (file is null)
                {
                    warnings.Add($"disk drive '{label}': host resource '{hostResource}' names no file; skipped");
                    continue;
                }
            }
            else
            {
                warnings.Add($"disk drive '{label}': host resource '{hostResource}' is not ovf:/disk/ID or ovf:/file/ID; skipped");
                continue;
            }

            var (controller, subType, bus) = Controller(item, controllers, items);
            if (controller is null)
            {
                warnings.Add($"disk drive '{label}': no IDE, SCSI, SATA or NVMe controller found; attached to SCSI");
                controller = "scsi";
            }

            // Clamped like the bus: a negative or huge unit would make a drive key PVE does not have (scsi-1).
            var unit = (int)Math.Clamp(ParseLong(Value(item, "AddressOnParent")) ?? 0, 0, 64);
            var address = Allocate(controller, bus, unit, used);
            if (address is null)
            {
                warnings.Add($"disk drive '{label}': no free {controller} slot; skipped");
                continue;
            }

            used.Add(address);
            var format = FormatOf(definition?.FormatUri, file?.Href);
            disks.Add(new OvfDiskAttachment(address, controller, subType, bus, unit, definition, file, file is null ? "raw" : format, definition?.CapacityBytes));
        }

        return disks;
    }

    /// <summary>
    /// The PVE drive key. Bus 0 gives PVE's own answer (type + AddressOnParent); further buses and collisions take the
    /// next slot, where PVE would silently give two drives the same key.
    /// </summary>
    private static string? Allocate(string controller, int bus, int unit, HashSet<string> used)
    {
        var (prefix, perBus, max) = controller switch
        {
            "ide" => ("ide", 2, 3),
            "scsi" => ("scsi", 16, 30),
            _ => ("sata", 6, 5),
        };
        var preferred = bus * perBus + unit;
        if (preferred <= max && !used.Contains(prefix + preferred.ToString(CultureInfo.InvariantCulture)))
        {
            return prefix + preferred.ToString(CultureInfo.InvariantCulture);
        }

        for (var i = 0; i <= max; i++)
        {
            var key = prefix + i.ToString(CultureInfo.InvariantCulture);
            if (!used.Contains(key))
            {
                return key;
            }
        }

        return null;
    }

    private static (string? Controller, string? SubType, int Bus) Controller(XElement item, Dictionary<string, XElement> controllers, List<XElement> items)
    {
        var parent = Value(item, "Parent");
        if (parent is null || !controllers.TryGetValue(parent, out var controller))
        {
            return (null, null, 0);
        }

        var type = ResourceType(controller);
        var subType = Value(controller, "ResourceSubType");
        var kind = type switch
        {
            ResourceIde => "ide",
            ResourceScsi => "scsi",
            ResourceOtherStorage => subType is not null && subType.Contains("nvme", StringComparison.OrdinalIgnoreCase) ? "nvme" : "sata",
            _ => null,
        };
        if (kind is null)
        {
            return (null, subType, 0);
        }

        // The bus number is the controller's Address; without one, the controller's rank among its kind.
        var bus = ParseLong(Value(controller, "Address"));
        if (bus is null)
        {
            var rank = 0;
            foreach (var other in items)
            {
                if (ReferenceEquals(other, controller))
                {
                    break;
                }

                if (ResourceType(other) == type)
                {
                    rank++;
                }
            }

            bus = rank;
        }

        return (kind, subType, (int)Math.Clamp(bus.Value, 0, 64));
    }

    private static List<OvfNic> ResolveNics(List<XElement> items)
    {
        var nics = new List<OvfNic>();
        foreach (var item in items)
        {
            if (ResourceType(item) != ResourceEthernet)
            {
                continue;
            }

            var subType = Value(item, "ResourceSubType");
            nics.Add(new OvfNic("net" + nics.Count.ToString(CultureInfo.InvariantCulture), NicModels.ToPveModel(subType), subType, Value(item, "Connection")));
        }

        return nics;
    }

    private static (bool Efi, string? Source) Firmware(XElement system, XElement? hardware)
    {
        if (hardware is not null)
        {
            foreach (var config in hardware.Elements(XNamespace.Get(Vmware) + "Config"))
            {
                if (config.Attribute(XNamespace.Get(Vmware) + "key")?.Value == "firmware")
                {
                    return (string.Equals(config.Attribute(XNamespace.Get(Vmware) + "value")?.Value, "efi", StringComparison.OrdinalIgnoreCase), "vmware");
                }
            }
        }

        // VirtualBox: <vbox:Machine><Hardware><Firmware type="EFI"/>; the machine element's children use its own namespaces.
        foreach (var element in system.Descendants())
        {
            if (element.Name.LocalName == "Firmware" && element.Parent?.Name.LocalName == "Hardware")
            {
                var type = element.Attribute("type")?.Value;
                if (type is not null)
                {
                    return (type.StartsWith("EFI", StringComparison.OrdinalIgnoreCase), "virtualbox");
                }
            }
        }

        return (false, null);
    }

    private static long? MemoryInMiB(string? quantity, string? units, List<string> warnings)
    {
        var value = ParseLong(quantity);
        if (value is null)
        {
            return null;
        }

        if (value <= 0)
        {
            // No guest runs in no memory; a negative size would reach qm as a nonsense option.
            warnings.Add($"memory of {value} is not a size; ignored");
            return null;
        }

        // VMware always writes "byte * 2^20"; a missing unit is read as MiB, which is what PVE assumes for every descriptor.
        if (string.IsNullOrWhiteSpace(units))
        {
            return value;
        }

        if (!ProgrammaticUnits.TryParseMultiplier(units, out var multiplier))
        {
            warnings.Add($"memory units '{units}' not understood; taking {value} as MiB");
            return value;
        }

        if (Math.Abs((decimal)value.Value) > long.MaxValue / multiplier)
        {
            // Beyond 8 EiB: no machine, and the product would overflow.
            warnings.Add($"memory of {value} × '{units}' is out of range; ignored");
            return null;
        }

        var bytes = (decimal)value.Value * multiplier;
        return (long)Math.Ceiling(bytes / (1 << 20));
    }

    private static string FormatOf(string? formatUri, string? href)
    {
        if (formatUri is not null)
        {
            if (formatUri.Contains("vmdk", StringComparison.OrdinalIgnoreCase))
            {
                return "vmdk";
            }

            if (formatUri.Contains("qcow", StringComparison.OrdinalIgnoreCase))
            {
                return "qcow2";
            }

            if (formatUri.Contains("wikipedia.org/wiki/Byte", StringComparison.OrdinalIgnoreCase))
            {
                return "raw";
            }
        }

        var extension = href is null ? string.Empty : Path.GetExtension(href).ToLowerInvariant();
        return extension switch
        {
            ".vmdk" => "vmdk",
            ".qcow2" => "qcow2",
            _ => "raw",
        };
    }

    /// <summary>PVE's rule for VM names: keep letters, digits, '-' and '.'.</summary>
    internal static string SanitizeName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return string.Empty;
        }

        var builder = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '.')
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    private static int? ResourceType(XElement item) => (int?)ParseLong(Value(item, "ResourceType"));

    /// <summary>A child's text by local name: rasd, sasd and epasd items all use the same element names.</summary>
    private static string? Value(XElement item, string localName)
    {
        foreach (var child in item.Elements())
        {
            if (child.Name.LocalName == localName)
            {
                var text = child.Value.Trim();
                return text.Length == 0 ? null : text;
            }
        }

        return null;
    }

    private static string? Attribute(XElement element, XNamespace ovf, string name) =>
        element.Attribute(ovf + name)?.Value ?? element.Attribute(name)?.Value;

    private static IEnumerable<XElement> Children(XElement root, XName section, XName child)
    {
        foreach (var s in root.Elements(section))
        {
            foreach (var c in s.Elements(child))
            {
                yield return c;
            }
        }
    }

    private static OvfDiskDefinition? Find(List<OvfDiskDefinition> definitions, string id)
    {
        foreach (var definition in definitions)
        {
            if (definition.DiskId == id)
            {
                return definition;
            }
        }

        return null;
    }

    private static OvfFile? FindFile(List<OvfFile> files, string id)
    {
        foreach (var file in files)
        {
            if (file.Id == id)
            {
                return file;
            }
        }

        return null;
    }

    /// <summary>
    /// Ids are only keys between sections, but they travel on (messages, JSON, --disk) and once named output files:
    /// one that looks like a path or hides characters is hostile, so it is refused rather than cleaned.
    /// </summary>
    private static void CheckId(string id, string what, string sourceName)
    {
        if (id.Contains('/', StringComparison.Ordinal) || id.Contains('\\', StringComparison.Ordinal) || id.Contains("..", StringComparison.Ordinal) || HasControlCharacters(id))
        {
            throw new OvaFormatException($"{sourceName}: {what} id '{DisplayText.Printable(id)}' contains a path separator, '..', NUL or a control character; refused");
        }
    }

    private static bool HasControlCharacters(string text)
    {
        foreach (var c in text)
        {
            if (char.IsControl(c))
            {
                return true;
            }
        }

        return false;
    }

    private static long? ParseLong(string? text) =>
        long.TryParse(text?.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : null;
}
