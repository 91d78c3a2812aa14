using Engine.Ova.Ovf;
using Engine.Ova.Tests.Infrastructure;

namespace Engine.Ova.Tests;

/// <summary>
/// Each mapping of PVE's <c>parse_ovf</c> (pve-storage <c>src/PVE/GuestImport/OVF.pm</c>), one descriptor element at a
/// time: where PVE is right Engine answers the same; where it throws information away (NIC models) Engine keeps it.
/// </summary>
public sealed class PveMappingTests
{
    /// <summary>PVE's <c>$ostype_ids</c> table, written out independently of <see cref="CimOsTypes"/>.</summary>
    public static TheoryData<int, string> PveOsTypes => new()
    {
        { 18, "winxp" }, { 29, "solaris" }, { 36, "l26" }, { 58, "w2k" }, { 67, "wxp" }, { 69, "w2k3" }, { 70, "w2k3" },
        { 71, "wxp" }, { 72, "wxp" }, { 73, "wvista" }, { 74, "wvista" }, { 75, "wxp" }, { 76, "w2k8" }, { 77, "w2k8" },
        { 79, "l26" }, { 80, "l26" }, { 81, "solaris" }, { 82, "l26" }, { 83, "l26" }, { 84, "l26" }, { 85, "l26" },
        { 87, "l26" }, { 89, "l26" }, { 90, "l26" }, { 91, "l26" }, { 92, "l26" }, { 93, "l26" }, { 94, "l26" },
        { 95, "l26" }, { 96, "l26" }, { 97, "l24" }, { 98, "l24" }, { 99, "l26" }, { 100, "l26" }, { 101, "l26" },
        { 103, "win7" }, { 105, "win7" }, { 106, "l26" }, { 107, "l26" }, { 108, "l26" }, { 109, "l26" },
        { 111, "win8" }, { 112, "win8" }, { 113, "win8" }, { 114, "win8" }, { 115, "win8" }, { 116, "win10" },
        { 117, "win8" }, { 118, "win8" }, { 119, "win10" }, { 120, "win10" }, { 121, "win10" }, { 122, "win11" },
        { 123, "win11" },

        // Not in the table: PVE says 'other'.
        { 0, "other" }, { 1, "other" }, { 102, "other" }, { 104, "other" }, { 110, "other" }, { 124, "other" },
    };

    [Theory]
    [InlineData("Web Server (prod) #1", "WebServerprod1")]
    [InlineData("db_01.example.com", "db01.example.com")]
    [InlineData("Übung-VM 2", "bung-VM2")]
    [InlineData("-a.b-", "-a.b-")]
    [InlineData("!!! ???", null)]
    public void Name_KeepsOnlyLettersDigitsDashAndDot(string raw, string? expected)
    {
        var system = Parse(name: raw);
        Assert.Equal(expected, system.Name);
        Assert.Equal(raw, system.RawName);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(24)]
    public void Cores_AreTheProcessorItemsVirtualQuantity(int count) =>
        Assert.Equal(count, Parse(items: Item(3, $"<rasd:VirtualQuantity>{count}</rasd:VirtualQuantity>")).Cores);

    [Fact]
    public void CoresPerSocket_IsKept_WherePveDropsIt()
    {
        var system = Parse(items: Item(3, "<rasd:VirtualQuantity>8</rasd:VirtualQuantity><vmw:CoresPerSocket ovf:required=\"false\">4</vmw:CoresPerSocket>"));
        Assert.Equal((8, 4), (system.Cores, system.CoresPerSocket));
    }

    [Theory]
    [InlineData("byte * 2^20", "2048", 2048)]
    [InlineData("byte * 2^30", "4", 4096)]
    [InlineData("MegaBytes", "1536", 1536)]
    [InlineData(null, "512", 512)] // PVE copies VirtualQuantity whatever its unit
    public void Memory_InMiB(string? units, string quantity, long mib)
    {
        var unitsElement = units is null ? string.Empty : $"<rasd:AllocationUnits>{units}</rasd:AllocationUnits>";
        var system = Parse(items: Item(4, $"{unitsElement}<rasd:VirtualQuantity>{quantity}</rasd:VirtualQuantity>"));
        Assert.Equal(mib, system.MemoryMiB);
        Assert.Equal(quantity, system.MemoryQuantity);
    }

    [Theory]
    [InlineData("byte * 2^20", "-512")]
    [InlineData(null, "0")]
    public void Memory_ThatIsNoSize_IsIgnoredWithAWarning(string? units, string quantity)
    {
        var unitsElement = units is null ? string.Empty : $"<rasd:AllocationUnits>{units}</rasd:AllocationUnits>";
        var system = Parse(items: Item(4, $"{unitsElement}<rasd:VirtualQuantity>{quantity}</rasd:VirtualQuantity>"));
        Assert.Null(system.MemoryMiB);
        Assert.Contains($"memory of {quantity} is not a size; ignored", system.Warnings);
    }

    [Theory]
    [MemberData(nameof(PveOsTypes))]
    public void OsType_FromPvesCimTable(int cimId, string ostype) =>
        Assert.Equal(ostype, Parse(system: $"<OperatingSystemSection ovf:id=\"{cimId}\"><Info>OS</Info></OperatingSystemSection>").OsType);

    [Fact]
    public void OsType_WithoutSection_IsOther() => Assert.Equal("other", Parse().OsType);

    [Theory]
    [InlineData("<vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>", true)]
    [InlineData("<vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"bios\"/>", false)]
    [InlineData("", false)]
    public void Bios_OvmfForVmwareEfiFirmware(string config, bool efi) => Assert.Equal(efi, Parse(items: config).Efi);

    [Theory]
    [InlineData(5, null, 1, "ide1", "ide")]
    [InlineData(6, "lsilogic", 5, "scsi5", "scsi")]
    [InlineData(20, "AHCI", 3, "sata3", "sata")]
    [InlineData(20, "vmware.nvme.controller", 0, "sata0", "nvme")]
    public void DiskAddress_IsControllerTypeAndAddressOnParent(int controllerType, string? subType, int unit, string address, string controller)
    {
        var sub = subType is null ? string.Empty : $"<rasd:ResourceSubType>{subType}</rasd:ResourceSubType>";
        var controllerItem = $"<Item><rasd:Address>0</rasd:Address><rasd:InstanceID>9</rasd:InstanceID>{sub}<rasd:ResourceType>{controllerType}</rasd:ResourceType></Item>";
        var system = Parse(
            files: "<File ovf:href=\"d.vmdk\" ovf:id=\"f1\"/>",
            disks: "<Disk ovf:capacity=\"1\" ovf:diskId=\"d1\" ovf:fileRef=\"f1\"/>",
            items: controllerItem + Descriptors.DiskItem("d1", unit, 10, parent: 9));

        var disk = Assert.Single(system.Disks);
        Assert.Equal(address, disk.Address);
        Assert.Equal(controller, disk.Controller);
    }

    [Theory]
    [InlineData("E1000", "e1000")]
    [InlineData("E1000e", "e1000e")]
    [InlineData("VmxNet3", "vmxnet3")]
    [InlineData("virtio", "virtio")]
    [InlineData("virtio-net-pci", "virtio")]
    [InlineData("PCNet32", "pcnet")] // VMware and VirtualBox for AMD PCnet; PVE: e1000
    [InlineData("Am79C973", "pcnet")]
    [InlineData("rtl8139", "rtl8139")]
    [InlineData("RTL8139", "rtl8139")]
    [InlineData("ne2k_pci", "ne2k_pci")]
    [InlineData("ne2k_isa", "ne2k_isa")]
    [InlineData("i82551", "i82551")]
    [InlineData("i82557b", "i82557b")]
    [InlineData("i82559er", "i82559er")]
    [InlineData("82545EM", "e1000-82545em")]
    [InlineData("e1000-82540em", "e1000-82540em")]
    [InlineData("VmxNet2", "e1000")] // no emulation in QEMU: PVE's fallback
    [InlineData("Flexible", "e1000")]
    [InlineData(null, "e1000")]
    public void NicModel_KeepsWhatPveCanEmulate(string? subType, string model)
    {
        var sub = subType is null ? string.Empty : $"<rasd:ResourceSubType>{subType}</rasd:ResourceSubType>";
        var nic = Assert.Single(Parse(items: Item(10, $"{sub}<rasd:Connection>VM Network</rasd:Connection>")).Nics);
        Assert.Equal(("net0", model, subType), (nic.Key, nic.Model, nic.SubType));
    }

    [Fact]
    public void BootOrder_IsTheDisksWithFiles_InDescriptorOrder()
    {
        var system = Parse(
            files: "<File ovf:href=\"a.vmdk\" ovf:id=\"f1\"/><File ovf:href=\"b.vmdk\" ovf:id=\"f2\"/>",
            disks: "<Disk ovf:capacity=\"1\" ovf:diskId=\"d2\" ovf:fileRef=\"f2\"/><Disk ovf:capacity=\"1\" ovf:diskId=\"blank\"/><Disk ovf:capacity=\"1\" ovf:diskId=\"d1\" ovf:fileRef=\"f1\"/>",
            items: Descriptors.DiskItem("d2", 2, 10) + Descriptors.DiskItem("blank", 1, 11) + Descriptors.DiskItem("d1", 0, 12));

        Assert.Equal("order=scsi2;scsi0", system.Boot);
        Assert.Equal(["scsi2", "scsi1", "scsi0"], system.Disks.Select(d => d.Address));
    }

    private static string Item(int resourceType, string body) =>
        $"<Item><rasd:InstanceID>{20 + resourceType}</rasd:InstanceID><rasd:ResourceType>{resourceType}</rasd:ResourceType>{body}</Item>";

    private static OvfVirtualSystem Parse(string files = "", string disks = "", string items = "", string name = "vm", string system = "")
    {
        var escaped = System.Security.SecurityElement.Escape(name);
        return OvfParser.Parse(Descriptors.Envelope(files, disks, items, escaped, system), "test.ovf").VirtualSystems[0];
    }
}
