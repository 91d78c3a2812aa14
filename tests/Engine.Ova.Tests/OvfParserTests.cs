using System.Text;
using Engine.Ova.Ovf;
using Engine.Ova.Tests.Infrastructure;

namespace Engine.Ova.Tests;

/// <summary>The descriptor as PVE reads it, and where Engine reads further.</summary>
public sealed class OvfParserTests
{
    [Fact]
    public void Vmware_MatchesPve_AndResolvesNvmeAndEfi()
    {
        var system = Parse("vmware.ovf").VirtualSystems[0];

        Assert.Equal("webserverprod1", system.Name); // PVE keeps [a-zA-Z0-9-.] only
        Assert.Equal(4, system.Cores);
        Assert.Equal(8192, system.MemoryMiB);
        Assert.Equal("l26", system.OsType);
        Assert.True(system.Efi);
        Assert.Equal("order=scsi0;sata1", system.Boot);
        Assert.Collection(
            system.Disks,
            d => (d.Address, d.Controller, d.VirtualSize, d.File!.Href).Is(("scsi0", "scsi", 64L << 20, "web_server-disk1.vmdk")),
            d => (d.Address, d.Controller, d.VirtualSize, d.File!.Href).Is(("sata1", "nvme", 16L << 20, "web_server-disk2.vmdk")));
        Assert.Equal(["vmxnet3", "e1000e"], system.Nics.Select(n => n.Model));
    }

    [Fact]
    public void VirtualBox_FirmwareElement_MegaBytes_Sata_BareHostResource()
    {
        var system = Parse("virtualbox.ovf").VirtualSystems[0];

        Assert.Equal("debian12", system.Name);
        Assert.Equal(2048, system.MemoryMiB);
        Assert.Equal("l26", system.OsType);
        Assert.True(system.Efi);
        Assert.Equal("virtualbox", system.FirmwareSource);
        var disk = Assert.Single(system.Disks);
        Assert.Equal("sata0", disk.Address);
        Assert.Equal(33554432, disk.VirtualSize); // capacity without units: bytes
        Assert.Equal("virtio", Assert.Single(system.Nics).Model);
    }

    [Fact]
    public void Ovf2Collection_StorageItems_BusNumbers_BlankDisk_Gzip_Chunks()
    {
        var descriptor = Parse("ovf2-collection.ovf");

        Assert.Equal(2, descriptor.OvfVersion);
        Assert.Equal(["db", "web"], descriptor.VirtualSystems.Select(s => s.Id));
        var db = descriptor.VirtualSystems[0];
        Assert.Equal(4096, db.MemoryMiB); // 4 × 2^30 bytes
        Assert.Equal("l26", db.OsType);
        Assert.Collection(
            db.Disks,
            d =>
            {
                Assert.Equal("scsi0", d.Address);
                Assert.Equal(4L << 20, d.VirtualSize);
                Assert.Equal("gzip", d.File!.Compression);
                Assert.Equal(65536, d.File.ChunkSize);
                Assert.Equal("raw", d.Format);
            },
            d =>
            {
                Assert.Equal("scsi16", d.Address); // bus 1, unit 0: PVE would say scsi0 again
                Assert.True(d.IsBlank);
                Assert.Equal(1L << 20, d.VirtualSize);
            });
        Assert.Equal("order=scsi0", db.Boot);
        Assert.Equal("e1000", Assert.Single(db.Nics).Model);
        Assert.Equal(512, descriptor.VirtualSystems[1].MemoryMiB);
    }

    [Theory]
    [InlineData("byte * 2^30", 1L << 30)]
    [InlineData("byte*2^20", 1L << 20)]
    [InlineData("byte * 1024^2", 1L << 20)]
    [InlineData("byte * 10^9", 1_000_000_000L)]
    [InlineData("byte", 1L)]
    [InlineData(null, 1L)]
    [InlineData("GigaBytes", 1L << 30)]
    public void CapacityUnits(string? units, long multiplier)
    {
        Assert.True(ProgrammaticUnits.TryParseMultiplier(units, out var value));
        Assert.Equal(multiplier, value);
    }

    [Theory]
    [InlineData(94, "l26")]
    [InlineData(107, "l26")]
    [InlineData(97, "l24")]
    [InlineData(105, "win7")]
    [InlineData(116, "win10")]
    [InlineData(123, "win11")]
    [InlineData(29, "solaris")]
    [InlineData(1, "other")]
    [InlineData(null, "other")]
    public void CimOsIds(int? id, string ostype) => Assert.Equal(ostype, CimOsTypes.ToPveOsType(id));

    [Fact]
    public void OversizedDescriptor_IsRefusedBeforeParsing()
    {
        var huge = new byte[OvfParser.MaxDescriptorBytes + 1];
        var error = Assert.Throws<OvaFormatException>(() => OvfParser.Parse(huge, "big.ovf"));
        Assert.Contains("limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BillionLaughs_IsRefused()
    {
        var xml = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\">&lol2;</Envelope>";
        var error = Assert.Throws<OvaFormatException>(() => OvfParser.Parse(Encoding.UTF8.GetBytes(xml), "lol.ovf"));
        Assert.Contains("DTD", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NotAnEnvelope_IsRefused()
    {
        var error = Assert.Throws<OvaFormatException>(() => OvfParser.Parse("<html/>"u8, "x.ovf"));
        Assert.Contains("not an OVF", error.Message, StringComparison.Ordinal);
    }

    private static OvfDescriptor Parse(string fixture)
    {
        var text = File.ReadAllText(Descriptors.Fixture(fixture)).Replace("@SIZE@", "1000", StringComparison.Ordinal);
        return OvfParser.Parse(Encoding.UTF8.GetBytes(text), fixture);
    }
}

internal static class TupleAssert
{
    public static void Is<T>(this T actual, T expected) => Assert.Equal(expected, actual);
}
