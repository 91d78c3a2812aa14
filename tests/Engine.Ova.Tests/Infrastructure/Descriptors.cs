using System.Text;

namespace Engine.Ova.Tests.Infrastructure;

/// <summary>Small hand-written OVF descriptors, and the checked-in fixtures in fixtures/ova.</summary>
internal static class Descriptors
{
    /// <summary>An OVF 1.0 envelope with one disk on SCSI bus 0 unit 0.</summary>
    public static byte[] SingleDisk(string href, long capacityBytes, string format = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized", string fileAttributes = "") =>
        Encoding.UTF8.GetBytes($"""
            <?xml version="1.0" encoding="UTF-8"?>
            <Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
              <References><File ovf:href="{href}" ovf:id="file1" {fileAttributes}/></References>
              <DiskSection><Info>Disks</Info><Disk ovf:capacity="{capacityBytes}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="{format}"/></DiskSection>
              <VirtualSystem ovf:id="test-vm">
                <Info>A VM</Info>
                <Name>test-vm</Name>
                <OperatingSystemSection ovf:id="101"><Info>Linux 64-bit</Info></OperatingSystemSection>
                <VirtualHardwareSection>
                  <Info>Hardware</Info>
                  <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
                  <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>1024</rasd:VirtualQuantity></Item>
                  <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
                  <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
                </VirtualHardwareSection>
              </VirtualSystem>
            </Envelope>
            """);

    /// <summary>
    /// An OVF 1.0 envelope assembled from parts: <paramref name="files"/> (File elements), <paramref name="disks"/> (Disk
    /// elements) and <paramref name="items"/> (hardware Items; InstanceID 3 is a SCSI controller on bus 0).
    /// </summary>
    public static byte[] Envelope(string files, string disks, string items, string name = "test-vm", string system = "") =>
        Encoding.UTF8.GetBytes($"""
            <?xml version="1.0" encoding="UTF-8"?>
            <Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
              <References>{files}</References>
              <DiskSection><Info>Disks</Info>{disks}</DiskSection>
              <VirtualSystem ovf:id="test-vm">
                <Info>A VM</Info>
                <Name>{name}</Name>
                {system}
                <VirtualHardwareSection>
                  <Info>Hardware</Info>
                  <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType></Item>
                  {items}
                </VirtualHardwareSection>
              </VirtualSystem>
            </Envelope>
            """);

    /// <summary>A disk drive Item on the SCSI controller of <see cref="Envelope"/>.</summary>
    public static string DiskItem(string diskId, int unit, int instance, int parent = 3) =>
        $"<Item><rasd:AddressOnParent>{unit}</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/{diskId}</rasd:HostResource><rasd:InstanceID>{instance}</rasd:InstanceID><rasd:Parent>{parent}</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>";

    /// <summary>A checked-in fixture descriptor (fixtures/ova/NAME), found by walking up from the test binaries.</summary>
    public static string Fixture(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "fixtures", "ova", name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail($"fixtures/ova/{name} not found above {AppContext.BaseDirectory}");
        return string.Empty;
    }
}
