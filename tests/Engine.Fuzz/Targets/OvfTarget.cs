using System.Globalization;
using System.Text.RegularExpressions;
using Engine.Ova;
using Engine.Ova.Ovf;

namespace Engine.Fuzz.Targets;

/// <summary>
/// The OVF descriptor parser and PVE-style resolution of disks, controllers and NICs. A descriptor it accepts must
/// give each disk a distinct drive key PVE knows.
/// </summary>
internal sealed partial class OvfTarget : IFuzzTarget
{
    public string Name => "ovf";

    public string Description => "OVF descriptor (XML envelope, references, disks, virtual hardware)";

    public void Run(ReadOnlySpan<byte> input)
    {
        try
        {
            foreach (var system in OvfParser.Parse(input, "fuzz.ovf").VirtualSystems)
            {
                CheckDriveKeys(system);
            }
        }
        catch (OvaFormatException)
        {
        }
    }

    /// <summary>What the parser accepts goes into a PVE VM configuration: each disk gets a distinct drive key PVE has.</summary>
    private static void CheckDriveKeys(OvfVirtualSystem system)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var disk in system.Disks)
        {
            var match = DriveKey().Match(disk.Address);
            var max = match.Groups[1].Value switch { "ide" => 3, "sata" => 5, _ => 30 };
            if (!match.Success || int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture) > max || !used.Add(disk.Address))
            {
                throw new InvalidOperationException($"virtual system {system.Id}: the parser gave a disk the drive key '{disk.Address}' (bus {disk.Bus}, unit {disk.Unit})");
            }
        }
    }

    [GeneratedRegex("^(ide|scsi|sata)(0|[1-9][0-9]?)$")]
    private static partial Regex DriveKey();
}
