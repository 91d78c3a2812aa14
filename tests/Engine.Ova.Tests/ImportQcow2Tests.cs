using System.Text.Json;
using Engine.Ova.Tests.Infrastructure;

namespace Engine.Ova.Tests;

/// <summary>
/// <c>engine ova import … --format qcow2</c>, as PVE imports to file storage: every disk becomes a qcow2 image that
/// passes <c>qemu-img check</c> and holds what <c>qemu-img convert</c> makes of the VMDK.
/// </summary>
public sealed class ImportQcow2Tests
{
    [Fact]
    public async Task Import_format_qcow2_writes_clean_images_equal_to_qemu_img_convert()
    {
        using var dir = new Scratch();
        var ova = await CliContractTests.VmwareOvaAsync(dir);

        var result = (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out, "--format", "qcow2", "--json"])).AssertSuccess();

        using var json = JsonDocument.Parse(result.Stdout);
        var disks = json.RootElement.GetProperty("disks").EnumerateArray().ToList();
        Assert.Equal(2, disks.Count);
        foreach (var (disk, vmdk) in disks.Zip(["web_server-disk1.vmdk", "web_server-disk2.vmdk"]))
        {
            var output = disk.GetProperty("output").GetString()!;
            Assert.EndsWith(".qcow2", output, StringComparison.Ordinal);
            Assert.Equal("qcow2", disk.GetProperty("format").GetString());
            var check = (await Tool.RunAsync("qemu-img", "check", "-f", "qcow2", output)).AssertSuccess();
            Assert.Contains("No errors were found on the image.", check.Stdout, StringComparison.Ordinal);
            (await Tool.RunAsync("qemu-img", "compare", "-f", "qcow2", "-F", "vmdk", output, Path.Combine(dir["pkg"], vmdk))).AssertSuccess();
        }

        Assert.Empty(Directory.GetFiles(dir.Out, ".*"));
    }
}
