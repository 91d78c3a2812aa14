using System.Text;
using System.Text.Json;
using Engine.Ova.Tests.Infrastructure;

namespace Engine.Ova.Tests;

/// <summary><c>engine ova inspect|import|serve</c> as scripts use them: output, JSON keys, exit codes, NBD clients.</summary>
public sealed class CliContractTests
{
    private static readonly string[] PveQmKeys = ["name", "cores", "memory", "ostype", "bios", "boot"];
    private static readonly string[] PveDiskKeys = ["disk_address", "virtual_size", "relative_path", "format"];

    [Fact]
    public async Task InspectJson_UsesPveParseOvfKeys()
    {
        using var dir = new Scratch();
        var ova = await VmwareOvaAsync(dir);

        var result = (await EngineCli.RunAsync(["ova", "inspect", ova, "--json"])).AssertSuccess();

        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Equal(["qm", "disks", "net", "extra"], root.EnumerateObject().Select(p => p.Name));
        var qm = root.GetProperty("qm");
        Assert.Equal(PveQmKeys, qm.EnumerateObject().Select(p => p.Name));
        Assert.Equal("webserverprod1", qm.GetProperty("name").GetString());
        Assert.Equal(4, qm.GetProperty("cores").GetInt32());
        Assert.Equal(8192, qm.GetProperty("memory").GetInt32());
        Assert.Equal("l26", qm.GetProperty("ostype").GetString());
        Assert.Equal("ovmf", qm.GetProperty("bios").GetString());
        Assert.Equal("order=scsi0;sata1", qm.GetProperty("boot").GetString());
        var disks = root.GetProperty("disks").EnumerateArray().ToList();
        Assert.Equal(2, disks.Count);
        foreach (var disk in disks)
        {
            Assert.Equal(PveDiskKeys, disk.EnumerateObject().Select(p => p.Name));
        }

        Assert.Equal("scsi0", disks[0].GetProperty("disk_address").GetString());
        Assert.Equal(64L << 20, disks[0].GetProperty("virtual_size").GetInt64());
        Assert.Equal("web_server-disk1.vmdk", disks[0].GetProperty("relative_path").GetString());
        var net = root.GetProperty("net");
        Assert.Equal(["net0", "net1"], net.EnumerateObject().Select(p => p.Name));
        Assert.Equal("vmxnet3", net.GetProperty("net0").GetProperty("model").GetString());
        Assert.Equal(["model"], net.GetProperty("net0").EnumerateObject().Select(p => p.Name));
        Assert.Equal("nvme", root.GetProperty("extra").GetProperty("disks")[1].GetProperty("controller").GetString());
        Assert.Equal(2, root.GetProperty("extra").GetProperty("cores_per_socket").GetInt32());
    }

    [Fact]
    public async Task InspectOvfOnDisk_ReportsBackingFileAndRealSize()
    {
        using var dir = new Scratch();
        var raw = Images.Write(dir["disk.raw"], Images.Pattern(3 << 20, 21));
        await Images.QemuVmdkAsync(raw, dir["web_server-disk1.vmdk"]);
        File.Copy(Descriptors.Fixture("vmware.ovf"), dir["vm.ovf"]);

        var result = (await EngineCli.RunAsync(["ova", "inspect", dir["vm.ovf"], "--json"])).AssertSuccess();

        using var json = JsonDocument.Parse(result.Stdout);
        var disk = json.RootElement.GetProperty("disks")[0];
        Assert.Equal(dir["web_server-disk1.vmdk"], disk.GetProperty("backing_file").GetString());
        Assert.Equal(3L << 20, disk.GetProperty("virtual_size").GetInt64()); // the image's, as PVE's file_size_info
        var text = (await EngineCli.RunAsync(["ova", "inspect", dir["vm.ovf"]])).AssertSuccess();
        Assert.Contains("scsi0: web_server-disk1.vmdk", text.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportFromPipe_Json_MatchesQemuImg()
    {
        using var dir = new Scratch();
        var ova = await VmwareOvaAsync(dir);

        var result = (await EngineCli.RunAsync(["ova", "import", "-", "--to", dir.Out, "--json"], stdinFile: ova)).AssertSuccess();

        using var json = JsonDocument.Parse(result.Stdout);
        var disks = json.RootElement.GetProperty("disks").EnumerateArray().ToList();
        Assert.Equal(2, disks.Count);
        Assert.Equal("verified", disks[0].GetProperty("manifest").GetString());
        await Images.AssertSameAsQemuAsync(dir["pkg/web_server-disk1.vmdk"], disks[0].GetProperty("output").GetString()!);
        await Images.AssertSameAsQemuAsync(dir["pkg/web_server-disk2.vmdk"], disks[1].GetProperty("output").GetString()!);
    }

    [Fact]
    public async Task ExitCodes()
    {
        using var dir = new Scratch();
        var ova = await VmwareOvaAsync(dir);
        (await EngineCli.RunAsync(["ova", "import", dir["missing.ova"], "--to", dir.Out])).AssertFailure(66, "missing.ova");
        var xxe = new TarBuilder().File("x.ovf", Encoding.UTF8.GetBytes("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>")).Save(dir["xxe.ova"]);
        (await EngineCli.RunAsync(["ova", "inspect", xxe])).AssertFailure(65, "DTD");
        (await EngineCli.RunAsync(["ova", "import", xxe, "--to", dir.Out])).AssertFailure(65, "DTD");
        (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out, "--disk", "nope"])).AssertFailure(65, "no disk matches 'nope'");
        dir.AssertOutEmpty();
    }

    [Theory]
    [InlineData(64L << 40, "largest file")] // the limit itself: ext4's largest file is 16 TiB
    [InlineData(1L << 50, "above the 64 TiB limit")]
    public async Task OversizedBlankDisk_Exit65_ClearMessage_NothingLeft(long capacity, string message)
    {
        using var dir = new Scratch();
        var ovf = Descriptors.Envelope(string.Empty, $"<Disk ovf:capacity=\"{capacity}\" ovf:diskId=\"blank\"/>", Descriptors.DiskItem("blank", 0, 4));
        var ova = new TarBuilder().File("vm.ovf", ovf).Save(dir["vm.ova"]);
        var fileSystem = (await Tool.RunAsync("stat", "-f", "-c", "%T", dir.Out)).AssertSuccess().Stdout.Trim();
        Assert.True(fileSystem == "ext2/ext3" || capacity > 64L << 40, $"this test expects ext4 (16 TiB largest file) under {dir.Out}, found {fileSystem}");

        var result = (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out])).AssertFailure(65, message).AssertNoRuntimeText();

        Assert.Contains("blank disk scsi0", result.Stderr, StringComparison.Ordinal);
        dir.AssertOutEmpty();
    }

    [Fact]
    public async Task MissingTargetOrArchive_Exit66_ClearMessage_NoDotNetText()
    {
        using var dir = new Scratch();
        var ova = new TarBuilder().File("vm.ovf", Descriptors.SingleDisk("disk.raw", 4096, "http://en.wikipedia.org/wiki/Byte")).File("disk.raw", new byte[4096]).Save(dir["vm.ova"]);

        var missing = (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir["nowhere"]])).AssertFailure(66, "target folder");
        var piped = (await EngineCli.RunAsync(["ova", "import", "-", "--to", dir["nowhere"]], stdinFile: ova)).AssertFailure(66, "target folder");
        File.WriteAllText(dir["a-file"], "x");
        var file = (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir["a-file"]])).AssertFailure(66, "is a file, not a folder");
        var results = new List<ToolResult> { missing, piped, file };
        foreach (var verb in new[] { "import", "inspect", "serve" })
        {
            string[] rest = verb switch { "import" => ["--to", dir.Out], "serve" => ["--socket", dir["s.sock"]], _ => [] };
            results.Add((await EngineCli.RunAsync(["ova", verb, dir["missing.ova"], .. rest])).AssertFailure(66, "missing.ova: no such file"));
            results.Add((await EngineCli.RunAsync(["ova", verb, dir.Out, .. rest])).AssertFailure(66, "is a folder, not an archive"));
        }

        foreach (var result in results)
        {
            result.AssertNoRuntimeText();
        }
    }

    [Fact]
    public async Task ControlCharactersFromTheArchive_AreShownEscaped()
    {
        using var dir = new Scratch();
        var ova = new TarBuilder().File("vm.ovf", Descriptors.SingleDisk("disk.raw", 4096)).File("\u001b[2Jevil", new byte[512], declaredSize: 1 << 20).Save(dir["vm.ova"]);

        var result = (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out])).AssertFailure(65, "\\u001b[2Jevil");

        Assert.DoesNotContain('\u001b', result.Stderr);
        dir.AssertOutEmpty();
    }

    [Fact]
    public async Task ServeRawInnerDisk_ReadByNbdinfoAndQemuImg()
    {
        using var dir = new Scratch();
        var image = Images.Write(dir["pkg/disk.raw"], Images.Pattern(3 << 20, 22), createFolder: true);
        await File.WriteAllBytesAsync(dir["pkg/vm.ovf"], Descriptors.SingleDisk("disk.raw", 3 << 20, "http://en.wikipedia.org/wiki/Byte"));
        var ova = await Images.TarAsync(dir["vm.ova"], dir["pkg"], "gnu", "vm.ovf", "disk.raw");

        await ServeAndCheckAsync(dir, ova, image, 3 << 20);
    }

    [Fact]
    public async Task ServeFlatDescriptor_InArchiveExtent()
    {
        using var dir = new Scratch();
        var image = Images.Write(dir["pkg/disk-flat.vmdk"], Images.Pattern(2 << 20, 23), createFolder: true);
        await File.WriteAllTextAsync(dir["pkg/disk.vmdk"], "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\nRW 4096 FLAT \"disk-flat.vmdk\" 0\n");
        await File.WriteAllBytesAsync(dir["pkg/vm.ovf"], Descriptors.SingleDisk("disk.vmdk", 2 << 20, "http://www.vmware.com/interfaces/specifications/vmdk.html#monolithicFlat"));
        var ova = await Images.TarAsync(dir["vm.ova"], dir["pkg"], "ustar", "vm.ovf", "disk.vmdk", "disk-flat.vmdk");

        await ServeAndCheckAsync(dir, ova, image, 2 << 20);
    }

    [Fact]
    public async Task ServeFlatDescriptor_PointingAtHostFile_IsRefused()
    {
        using var dir = new Scratch();
        var descriptor = Encoding.ASCII.GetBytes("# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\n\nRW 4 FLAT \"/etc/passwd\" 0\n");
        var ova = new TarBuilder().File("vm.ovf", Descriptors.SingleDisk("disk.vmdk", 2048)).File("disk.vmdk", descriptor).Save(dir["vm.ova"]);

        (await EngineCli.RunAsync(["ova", "serve", ova, "--socket", dir["s.sock"]])).AssertFailure(65, "/etc/passwd");
    }

    private static async Task ServeAndCheckAsync(Scratch dir, string ova, string expected, long size)
    {
        var socket = dir["nbd.sock"];
        await using var engine = EngineCli.Start("ova", "serve", ova, "--socket", socket, "--export", "disk");
        await engine.WaitUntilAsync(() => engine.Stdout.Contains('\n', StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the URI on stdout");
        var uri = engine.Stdout.Split('\n')[0];
        Assert.Equal($"nbd+unix:///disk?socket={socket}", uri);

        var info = (await Tool.RunAsync("nbdinfo", "--json", uri)).AssertSuccess();
        using (var json = JsonDocument.Parse(info.Stdout))
        {
            var export = json.RootElement.GetProperty("exports")[0];
            Assert.Equal(size, export.GetProperty("export-size").GetInt64());
            Assert.True(export.GetProperty("is_read_only").GetBoolean());
        }

        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", uri, expected)).AssertSuccess();
    }

    /// <summary>A VMware-made OVA: two streamOptimized disks, a manifest (also used by <see cref="ImportQcow2Tests"/>).</summary>
    internal static async Task<string> VmwareOvaAsync(Scratch dir)
    {
        var pkg = Directory.CreateDirectory(dir["pkg"]).FullName;
        var raw1 = Images.Write(dir["d1.raw"], Images.Pattern((64 << 20) / 8, 24));
        var raw2 = Images.Write(dir["d2.raw"], Images.Pattern(1 << 20, 25));
        var vmdk1 = await File.ReadAllBytesAsync(await Images.QemuVmdkAsync(raw1, Path.Combine(pkg, "web_server-disk1.vmdk")));
        var vmdk2 = await File.ReadAllBytesAsync(await Images.QemuVmdkAsync(raw2, Path.Combine(pkg, "web_server-disk2.vmdk")));
        var ovf = await File.ReadAllBytesAsync(Descriptors.Fixture("vmware.ovf"));
        await File.WriteAllBytesAsync(Path.Combine(pkg, "vmware.ovf"), ovf);
        await File.WriteAllTextAsync(Path.Combine(pkg, "vmware.mf"), Images.ManifestLine("SHA256", "vmware.ovf", ovf) + Images.ManifestLine("SHA256", "web_server-disk1.vmdk", vmdk1) + Images.ManifestLine("SHA256", "web_server-disk2.vmdk", vmdk2));
        return await Images.TarAsync(dir["vm.ova"], pkg, "ustar", "vmware.ovf", "vmware.mf", "web_server-disk1.vmdk", "web_server-disk2.vmdk");
    }
}
