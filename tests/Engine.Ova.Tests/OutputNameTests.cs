using System.Text;
using Engine.Ova.Tests.Infrastructure;

namespace Engine.Ova.Tests;

/// <summary>Files an import writes are named by Engine, never by the archive: ids and hrefs cannot steer them.</summary>
public sealed class OutputNameTests
{
    private const long Capacity = 1 << 20;

    [Theory]
    [InlineData("../escaped")]
    [InlineData("ABSOLUTE")]
    [InlineData("a\\b")]
    [InlineData("tab&#9;id")]
    public async Task BlankDiskId_LikeAPath_IsRefused_AndNothingIsWrittenAnywhere(string diskId)
    {
        using var dir = new Scratch();
        diskId = diskId.Replace("ABSOLUTE", dir["escaped"], StringComparison.Ordinal);
        var ovf = Descriptors.Envelope(string.Empty, $"<Disk ovf:capacity=\"{Capacity}\" ovf:diskId=\"{diskId}\"/>", Descriptors.DiskItem(diskId, 0, 4));
        var ova = new TarBuilder().File("vm.ovf", ovf).Save(dir["vm.ova"]);

        var error = await Assert.ThrowsAsync<OvaFormatException>(() => ImportTests.ImportAsync(ova, dir.Out));

        Assert.Contains("disk id", error.Message, StringComparison.Ordinal);
        Assert.Contains("refused", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(dir["escaped.raw"]), "a file was written outside the target folder");
        dir.AssertOutEmpty();
        (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out])).AssertFailure(65, "disk id");
        (await EngineCli.RunAsync(["ova", "inspect", ova])).AssertFailure(65, "disk id");
        Assert.False(File.Exists(dir["escaped.raw"]), "a file was written outside the target folder");
        dir.AssertOutEmpty();
    }

    [Fact]
    public async Task OutputNames_AreEngineChosen_PlainAndUnique()
    {
        using var dir = new Scratch();
        var first = Images.Pattern(Capacity, 31);
        var second = Images.Pattern(Capacity, 32);
        var third = Images.Pattern(Capacity, 33);
        var ovf = Descriptors.Envelope(
            "<File ovf:href=\"a/disk.img\" ovf:id=\"f1\"/><File ovf:href=\"b/disk.img\" ovf:id=\"f2\"/><File ovf:href=\"-rf my disk.img\" ovf:id=\"f3\"/>",
            $"<Disk ovf:capacity=\"{Capacity}\" ovf:diskId=\"d1\" ovf:fileRef=\"f1\"/><Disk ovf:capacity=\"{Capacity}\" ovf:diskId=\"d2\" ovf:fileRef=\"f2\"/><Disk ovf:capacity=\"{Capacity}\" ovf:diskId=\"d3\" ovf:fileRef=\"f3\"/><Disk ovf:capacity=\"{Capacity}\" ovf:diskId=\"disk.raw\"/>",
            Descriptors.DiskItem("d1", 0, 4) + Descriptors.DiskItem("d2", 1, 5) + Descriptors.DiskItem("d3", 2, 6) + Descriptors.DiskItem("disk.raw", 3, 7));
        var ova = new TarBuilder().File("vm.ovf", ovf).File("a/disk.img", first).File("b/disk.img", second).File("-rf my disk.img", third).Save(dir["vm.ova"]);

        var disks = await ImportTests.ImportAsync(ova, dir.Out);

        Assert.Equal(["disk.raw", "disk-2.raw", "disk-3.raw", "disk-4.raw"], disks.Select(d => Path.GetFileName(d.OutputPath)));
        Assert.All(disks, d => Assert.Equal(dir.Out, Path.GetDirectoryName(d.OutputPath)));
        Assert.Equal(first, await File.ReadAllBytesAsync(disks[0].OutputPath));
        Assert.Equal(second, await File.ReadAllBytesAsync(disks[1].OutputPath));
        Assert.Equal(third, await File.ReadAllBytesAsync(disks[2].OutputPath));
        Assert.Equal(Capacity, new FileInfo(disks[3].OutputPath).Length);
    }

    [Fact]
    public async Task Extract_CollidingFileNames_GetEngineNames()
    {
        using var dir = new Scratch();
        var first = Encoding.ASCII.GetBytes(new string('a', 4096));
        var second = Encoding.ASCII.GetBytes(new string('b', 4096));
        var ovf = Descriptors.Envelope(
            "<File ovf:href=\"a/disk.vmdk\" ovf:id=\"f1\"/><File ovf:href=\"b/disk.vmdk\" ovf:id=\"f2\"/>",
            "<Disk ovf:capacity=\"4096\" ovf:diskId=\"d1\" ovf:fileRef=\"f1\"/><Disk ovf:capacity=\"4096\" ovf:diskId=\"d2\" ovf:fileRef=\"f2\"/>",
            Descriptors.DiskItem("d1", 0, 4) + Descriptors.DiskItem("d2", 1, 5));
        var ova = new TarBuilder().File("vm.ovf", ovf).File("a/disk.vmdk", first).File("b/disk.vmdk", second).Save(dir["vm.ova"]);

        var result = (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out, "--extract"])).AssertSuccess();

        Assert.Contains("disk.vmdk", result.Stdout, StringComparison.Ordinal);
        Assert.Equal(first, await File.ReadAllBytesAsync(Path.Combine(dir.Out, "disk.vmdk")));
        Assert.Equal(second, await File.ReadAllBytesAsync(Path.Combine(dir.Out, "disk-2.vmdk")));
        Assert.Equal(2, Directory.GetFileSystemEntries(dir.Out).Length);
    }
}
