using System.Text;
using Engine.Ova.Import;
using Engine.Ova.Tests.Infrastructure;

namespace Engine.Ova.Tests;

/// <summary>One-pass imports checked against qemu-img's conversion of the same disk image.</summary>
public sealed class ImportTests
{
    private const long OddCapacity = (5L << 20) + 3 * 512; // not a grain multiple: the last grain is partial

    [Theory]
    [InlineData("streamOptimized", "ustar")]
    [InlineData("monolithicSparse", "gnu")]
    [InlineData("streamOptimized", "pax")]
    public async Task QemuVmdk_InTar_ConvertsLikeQemuImg(string subformat, string tarFormat)
    {
        using var dir = new Scratch();
        var raw = Images.Write(dir["disk.raw"], Images.Pattern(OddCapacity, 1));
        var pkg = Directory.CreateDirectory(dir["pkg"]).FullName;
        var vmdk = await Images.QemuVmdkAsync(raw, Path.Combine(pkg, "disk1.vmdk"), subformat);
        await File.WriteAllBytesAsync(Path.Combine(pkg, "vm.ovf"), Descriptors.SingleDisk("disk1.vmdk", OddCapacity));
        var ova = await Images.TarAsync(dir["vm.ova"], pkg, tarFormat, "vm.ovf", "disk1.vmdk");

        var disks = await ImportAsync(ova, dir.Out);

        var disk = Assert.Single(disks);
        Assert.Equal(Path.Combine(dir.Out, "disk1.raw"), disk.OutputPath);
        Assert.Equal(OddCapacity, disk.VirtualSize);
        Assert.Contains(subformat, disk.SourceFormat, StringComparison.Ordinal);
        await Images.AssertSameAsQemuAsync(vmdk, disk.OutputPath);
        Assert.Equal(new[] { disk.OutputPath }, Directory.GetFiles(dir.Out));
    }

    [Fact]
    public async Task VmwareLayoutStream_OutOfOrderGrainsFooterAndEos_ConvertsLikeQemuImg()
    {
        using var dir = new Scratch();
        var image = Images.Pattern(OddCapacity, 2);
        var vmdk = dir["disk1.vmdk"];
        await File.WriteAllBytesAsync(vmdk, new StreamVmdkWriter().Build(image));
        var ova = new TarBuilder()
            .File("vm.ovf", Descriptors.SingleDisk("disk1.vmdk", OddCapacity))
            .File("disk1.vmdk", await File.ReadAllBytesAsync(vmdk))
            .Save(dir["vm.ova"]);

        var disk = Assert.Single(await ImportAsync(ova, dir.Out));

        await Images.AssertSameAsQemuAsync(vmdk, disk.OutputPath);
        Assert.Equal(image, await File.ReadAllBytesAsync(disk.OutputPath));
    }

    [Fact]
    public async Task ZeroGrains_LeaveHoles()
    {
        using var dir = new Scratch();
        var image = new byte[8 << 20];
        new Random(3).NextBytes(image.AsSpan(1 << 20, 1 << 20));
        var vmdk = await Images.QemuVmdkAsync(Images.Write(dir["disk.raw"], image), dir["disk1.vmdk"]);
        var ova = new TarBuilder()
            .File("vm.ovf", Descriptors.SingleDisk("disk1.vmdk", image.Length))
            .File("disk1.vmdk", await File.ReadAllBytesAsync(vmdk))
            .Save(dir["vm.ova"]);

        var disk = Assert.Single(await ImportAsync(ova, dir.Out));

        Assert.Equal(1 << 20, disk.DataBytes);
        var allocated = await Tool.RunAsync("sh", "-c", $"stat -c '%b %B' '{disk.OutputPath}'");
        var parts = allocated.AssertSuccess().Stdout.Trim().Split(' ');
        Assert.True(long.Parse(parts[0]) * long.Parse(parts[1]) <= 2 << 20, $"output is not sparse: {allocated.Stdout}");
    }

    [Fact]
    public async Task DescriptorAfterDisks_InFile_StillImports_AndManifestAtEndIsChecked()
    {
        using var dir = new Scratch();
        var raw = Images.Write(dir["disk.raw"], Images.Pattern(2 << 20, 4));
        var vmdkBytes = await File.ReadAllBytesAsync(await Images.QemuVmdkAsync(raw, dir["disk1.vmdk"]));
        var ovf = Descriptors.SingleDisk("disk1.vmdk", 2 << 20);
        var manifest = Encoding.ASCII.GetBytes(Images.ManifestLine("SHA512", "vm.ovf", ovf) + Images.ManifestLine("SHA512", "disk1.vmdk", vmdkBytes));
        var ova = new TarBuilder().File("disk1.vmdk", vmdkBytes).File("vm.ovf", ovf).File("vm.mf", manifest).Save(dir["vm.ova"]);

        var disk = Assert.Single(await ImportAsync(ova, dir.Out));

        Assert.Equal("verified", disk.Manifest);
        await Images.AssertSameAsQemuAsync(dir["disk1.vmdk"], disk.OutputPath);
    }

    [Theory]
    [InlineData("SHA1")]
    [InlineData("SHA256")]
    public async Task Pipe_ManifestAfterDisk_IsVerifiedOnTheSamePass(string algorithm)
    {
        using var dir = new Scratch();
        var raw = Images.Write(dir["disk.raw"], Images.Pattern(2 << 20, 5));
        var vmdkBytes = await File.ReadAllBytesAsync(await Images.QemuVmdkAsync(raw, dir["disk1.vmdk"]));
        var ovf = Descriptors.SingleDisk("disk1.vmdk", 2 << 20);
        var manifest = Encoding.ASCII.GetBytes(Images.ManifestLine(algorithm, "disk1.vmdk", vmdkBytes));
        var archive = new TarBuilder().File("vm.ovf", ovf).File("disk1.vmdk", vmdkBytes).File("vm.mf", manifest).Build();

        using var pipe = new NonSeekableStream(archive);
        var disks = await OvaImporter.ImportAsync(pipe, "stdin", new OvaImportOptions { TargetDirectory = dir.Out }, CancellationToken.None);

        Assert.Equal("verified", Assert.Single(disks).Manifest);
        await Images.AssertSameAsQemuAsync(dir["disk1.vmdk"], disks[0].OutputPath);
    }

    [Fact]
    public async Task GzipChunkedRawDisk_AndBlankDisk_FromOvf2Collection()
    {
        using var dir = new Scratch();
        var image = Images.Pattern(4 << 20, 6);
        var gz = Images.Gzip(image);

        var ovf = Encoding.UTF8.GetBytes((await File.ReadAllTextAsync(Descriptors.Fixture("ovf2-collection.ovf"))).Replace("@SIZE@", gz.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        var tar = new TarBuilder().File("app.ovf", ovf);
        var chunks = 0;
        for (var offset = 0; offset < gz.Length; offset += 65536, chunks++)
        {
            tar.File($"data.raw.gz.{chunks:D9}", gz[offset..Math.Min(gz.Length, offset + 65536)]);
        }

        var ova = tar.Save(dir["app.ova"]);
        Assert.True(chunks > 2, "the test needs several chunks");

        var disks = await ImportAsync(ova, dir.Out);

        Assert.Equal(2, disks.Count);
        var data = disks.Single(d => d.Source == "data.raw.gz");
        Assert.Equal("scsi0", data.Address);
        Assert.Equal(image, await File.ReadAllBytesAsync(data.OutputPath));
        var blank = disks.Single(d => d.Source is null);
        Assert.Equal("scsi16", blank.Address);
        Assert.Equal(1 << 20, new FileInfo(blank.OutputPath).Length);
        Assert.Equal(new byte[1 << 20], await File.ReadAllBytesAsync(blank.OutputPath));
    }

    [Fact]
    public async Task DiskSelection_AndExtractAsStored()
    {
        using var dir = new Scratch();
        var raw = Images.Write(dir["disk.raw"], Images.Pattern(1 << 20, 7));
        var pkg = Directory.CreateDirectory(dir["pkg"]).FullName;
        await Images.QemuVmdkAsync(raw, Path.Combine(pkg, "web_server-disk1.vmdk"));
        await Images.QemuVmdkAsync(raw, Path.Combine(pkg, "web_server-disk2.vmdk"));
        File.Copy(Descriptors.Fixture("vmware.ovf"), Path.Combine(pkg, "vmware.ovf"));
        var ova = await Images.TarAsync(dir["vm.ova"], pkg, "ustar", "vmware.ovf", "web_server-disk1.vmdk", "web_server-disk2.vmdk");

        var extracted = await OvaImporter.ImportAsync(File.OpenRead(ova), ova, new OvaImportOptions { TargetDirectory = dir.Out, Disk = "sata1", Extract = true }, CancellationToken.None);

        var disk = Assert.Single(extracted);
        Assert.Equal("sata1", disk.Address);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(pkg, "web_server-disk2.vmdk")), await File.ReadAllBytesAsync(disk.OutputPath));
    }

    internal static async Task<IReadOnlyList<ImportedDisk>> ImportAsync(string ova, string target, List<string>? warnings = null)
    {
        await using var archive = File.OpenRead(ova);
        return await OvaImporter.ImportAsync(archive, ova, new OvaImportOptions { TargetDirectory = target, Warning = warnings is null ? null : warnings.Add }, CancellationToken.None);
    }
}

/// <summary>A pipe stand-in: a stream that cannot seek.</summary>
internal sealed class NonSeekableStream(byte[] data) : MemoryStream(data, writable: false)
{
    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
}
