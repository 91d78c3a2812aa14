using Engine.Ova.Ovf;

namespace Engine.Fuzz.Tests;

/// <summary>
/// Descriptors that once gave a disk the drive key <c>scsi-1</c>, or failed with an OverflowException or an
/// ArgumentOutOfRangeException instead of a warning or a clean refusal.
/// </summary>
public sealed class OvfRegressionTests
{
    /// <summary>27 bytes AFL found in a 10-minute run: an XML declaration whose encoding switch runs past the input.</summary>
    [Fact]
    public void Broken_bytes_after_the_xml_declaration_are_not_well_formed_xml()
    {
        var error = Assert.Throws<Engine.Ova.OvaFormatException>(() => OvfParser.Parse(FuzzInputs.Read("Regressions/ovf/encoding-switch-past-the-end.bin"), "vm.ovf"));

        Assert.Equal("vm.ovf: not well-formed XML: its bytes do not follow the encoding its declaration names", error.Message);
    }

    [Fact]
    public void Negative_address_on_parent_still_gives_a_pve_drive_key()
    {
        var system = Assert.Single(OvfParser.Parse(FuzzInputs.Read("Regressions/ovf/negative-address-on-parent.bin"), "vm.ovf").VirtualSystems);

        Assert.All(system.Disks, disk => Assert.Matches("^(ide|scsi|sata)[0-9]+$", disk.Address));
        Assert.Equal(system.Disks.Count, system.Disks.Select(d => d.Address).Distinct().Count());
        Assert.DoesNotContain(system.Disks, disk => disk.Unit < 0);
    }

    [Fact]
    public void Memory_beyond_8_EiB_is_ignored_with_a_warning()
    {
        var system = Assert.Single(OvfParser.Parse(FuzzInputs.Read("Regressions/ovf/memory-overflows.bin"), "vm.ovf").VirtualSystems);

        Assert.Null(system.MemoryMiB);
        Assert.Contains("memory of 9223372036854775807 × 'byte * 2^62' is out of range; ignored", system.Warnings);
    }
}
