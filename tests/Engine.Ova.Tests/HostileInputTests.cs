using System.Text;
using Engine.Ova.Import;
using Engine.Ova.Tests.Infrastructure;

namespace Engine.Ova.Tests;

/// <summary>Hostile and broken archives: each fails with a clear error and leaves nothing in the target folder.</summary>
public sealed class HostileInputTests
{
    private const long Capacity = 1 << 20;

    [Fact]
    public async Task TruncatedArchive_FileAndPipe()
    {
        using var dir = new Scratch();
        var vmdk = await QemuVmdkAsync(dir);
        var full = new TarBuilder().File("vm.ovf", Descriptors.SingleDisk("disk1.vmdk", Capacity)).File("disk1.vmdk", vmdk).Build();
        var cut = full.Length - 1024 - vmdk.Length / 2;
        var ova = dir["cut.ova"];
        await File.WriteAllBytesAsync(ova, full[..cut]);

        var error = await FailsAsync(dir, ova);
        Assert.Contains("claims", error.Message, StringComparison.Ordinal);

        using var pipe = new NonSeekableStream(full[..cut]);
        var pipeError = await Assert.ThrowsAsync<OvaFormatException>(() => OvaImporter.ImportAsync(pipe, "stdin", new OvaImportOptions { TargetDirectory = dir.Out }, CancellationToken.None));
        Assert.Contains("truncated", pipeError.Message, StringComparison.Ordinal);
        dir.AssertOutEmpty();
    }

    [Fact]
    public async Task LyingOvfSize()
    {
        using var dir = new Scratch();
        var vmdk = await QemuVmdkAsync(dir);
        var ova = new TarBuilder()
            .File("vm.ovf", Descriptors.SingleDisk("disk1.vmdk", Capacity, fileAttributes: $"ovf:size=\"{vmdk.Length + 512}\""))
            .File("disk1.vmdk", vmdk)
            .Save(dir["vm.ova"]);

        var error = await FailsAsync(dir, ova);
        Assert.Contains("ovf:size", error.Message, StringComparison.Ordinal);
        Assert.StartsWith(dir["vm.ova"] + ": ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GrainLbaPastCapacity()
    {
        using var dir = new Scratch();
        var vmdk = new StreamVmdkWriter { LbaOverride = (index, lba) => lba + (1UL << 30) }.Build(Images.Pattern(Capacity, 8));
        var error = await FailsAsync(dir, Package(dir, vmdk));
        Assert.Contains("past the capacity", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DuplicateGrain()
    {
        using var dir = new Scratch();
        var vmdk = new StreamVmdkWriter { LbaOverride = (index, lba) => 0 }.Build(Images.Pattern(Capacity, 8));
        var error = await FailsAsync(dir, Package(dir, vmdk));
        Assert.Contains("twice", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DecompressionBombGrain()
    {
        using var dir = new Scratch();
        // A grain whose zlib data inflates to 16 times the grain size (it compresses to a few hundred bytes).
        var vmdk = new StreamVmdkWriter { PayloadOverride = (index, data) => index == 3 ? new byte[16 * 65536] : data }.Build(Images.Pattern(Capacity, 9));
        var error = await FailsAsync(dir, Package(dir, vmdk));
        Assert.Contains("decompression bomb", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShortGrain()
    {
        using var dir = new Scratch();
        var vmdk = new StreamVmdkWriter { PayloadOverride = (index, data) => index == 2 ? new byte[100] : data }.Build(Images.Pattern(Capacity, 9));
        var error = await FailsAsync(dir, Package(dir, vmdk));
        Assert.Contains("expected", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FlatDescriptorPointingAtHostFile()
    {
        using var dir = new Scratch();
        var descriptor = Encoding.ASCII.GetBytes("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\nRW 4 FLAT \"/etc/passwd\" 0\n");
        var error = await FailsAsync(dir, Package(dir, descriptor));
        Assert.Contains("/etc/passwd", error.Message, StringComparison.Ordinal);
        Assert.Contains("refused", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HugeDescriptorFile()
    {
        using var dir = new Scratch();
        var descriptor = Encoding.ASCII.GetBytes("# Disk DescriptorFile\nversion=1\n" + new string('#', 2 << 20) + "\n");
        var error = await FailsAsync(dir, Package(dir, descriptor));
        Assert.Contains("larger than", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HugeEmbeddedDescriptor()
    {
        using var dir = new Scratch();
        var vmdk = new StreamVmdkWriter().Build(Images.Pattern(Capacity, 10));
        BitConverter.TryWriteBytes(vmdk.AsSpan(36), 1UL << 40); // descriptorSize
        var error = await FailsAsync(dir, Package(dir, vmdk));
        Assert.Contains("embedded descriptor", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task XxeDescriptor()
    {
        using var dir = new Scratch();
        var ovf = Encoding.UTF8.GetBytes("<?xml version=\"1.0\"?>\n<!DOCTYPE Envelope [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\"><VirtualSystem><Name>&xxe;</Name></VirtualSystem></Envelope>");
        var ova = new TarBuilder().File("vm.ovf", ovf).Save(dir["vm.ova"]);
        var error = await FailsAsync(dir, ova);
        Assert.Contains("DTD", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../disk1.vmdk")]
    [InlineData("/disk1.vmdk")]
    [InlineData("a/../../disk1.vmdk")]
    public async Task TraversalMemberName_IsNeverUsed(string memberName)
    {
        using var dir = new Scratch();
        var ova = new TarBuilder().File("vm.ovf", Descriptors.SingleDisk("disk1.vmdk", Capacity)).File(memberName, await QemuVmdkAsync(dir)).Save(dir["vm.ova"]);
        var error = await FailsAsync(dir, ova);
        Assert.Contains("not found", error.Message, StringComparison.Ordinal);
        Assert.Contains(memberName, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("http://example.com/disk.vmdk")]
    public async Task TraversalHref_IsRefused(string href)
    {
        using var dir = new Scratch();
        var ova = new TarBuilder().File("vm.ovf", Descriptors.SingleDisk(href, Capacity)).Save(dir["vm.ova"]);
        var error = await FailsAsync(dir, ova);
        Assert.Contains("not a relative path inside the package", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SymlinkMember_FileAndPipe()
    {
        using var dir = new Scratch();
        var archive = new TarBuilder().File("vm.ovf", Descriptors.SingleDisk("disk1.vmdk", Capacity)).Symlink("disk1.vmdk", "/etc/passwd").Build();
        var ova = dir["vm.ova"];
        await File.WriteAllBytesAsync(ova, archive);
        var error = await FailsAsync(dir, ova);
        Assert.Contains("SymbolicLink pointing at '/etc/passwd'", error.Message, StringComparison.Ordinal);

        using var pipe = new NonSeekableStream(archive);
        var pipeError = await Assert.ThrowsAsync<OvaFormatException>(() => OvaImporter.ImportAsync(pipe, "stdin", new OvaImportOptions { TargetDirectory = dir.Out }, CancellationToken.None));
        Assert.Contains("not a regular file", pipeError.Message, StringComparison.Ordinal);
        dir.AssertOutEmpty();
    }

    [Fact]
    public async Task HardLinkMember()
    {
        using var dir = new Scratch();
        var ova = new TarBuilder().File("vm.ovf", Descriptors.SingleDisk("disk1.vmdk", Capacity)).HardLink("disk1.vmdk", "../../etc/passwd").Save(dir["vm.ova"]);
        var error = await FailsAsync(dir, ova);
        Assert.Contains("HardLink", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DuplicateDiskMember()
    {
        using var dir = new Scratch();
        var vmdk = await QemuVmdkAsync(dir);
        var ova = new TarBuilder().File("vm.ovf", Descriptors.SingleDisk("disk1.vmdk", Capacity)).File("disk1.vmdk", vmdk).File("disk1.vmdk", vmdk).Save(dir["vm.ova"]);
        var error = await FailsAsync(dir, ova);
        Assert.Contains("more than once", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ManifestMismatch_SecondDiskFails_FirstIsRemovedToo()
    {
        using var dir = new Scratch();
        var vmdk = await QemuVmdkAsync(dir);
        var ovf = await File.ReadAllBytesAsync(Descriptors.Fixture("vmware.ovf"));
        var manifest = Images.ManifestLine("SHA256", "web_server-disk1.vmdk", vmdk) + Images.ManifestLine("SHA256", "web_server-disk2.vmdk", [1, 2, 3]);
        var ova = new TarBuilder()
            .File("vmware.ovf", ovf)
            .File("vmware.mf", Encoding.ASCII.GetBytes(manifest))
            .File("web_server-disk1.vmdk", vmdk)
            .File("web_server-disk2.vmdk", vmdk)
            .Save(dir["vm.ova"]);

        var error = await FailsAsync(dir, ova);
        Assert.Contains("manifest mismatch for 'web_server-disk2.vmdk'", error.Message, StringComparison.Ordinal);
        Assert.StartsWith(dir["vm.ova"] + ": ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NotATar()
    {
        using var dir = new Scratch();
        var ova = dir["vm.ova"];
        await File.WriteAllBytesAsync(ova, Encoding.ASCII.GetBytes(new string('x', 4096)));
        var error = await FailsAsync(dir, ova);
        Assert.Contains("checksum", error.Message, StringComparison.Ordinal);
    }

    private static async Task<byte[]> QemuVmdkAsync(Scratch dir)
    {
        var raw = Images.Write(dir["src.raw"], Images.Pattern(Capacity, 11));
        return await File.ReadAllBytesAsync(await Images.QemuVmdkAsync(raw, dir["src.vmdk"]));
    }

    private static string Package(Scratch dir, byte[] disk) =>
        new TarBuilder().File("vm.ovf", Descriptors.SingleDisk("disk1.vmdk", Capacity)).File("disk1.vmdk", disk).Save(dir["vm.ova"]);

    private static async Task<OvaFormatException> FailsAsync(Scratch dir, string ova)
    {
        var error = await Assert.ThrowsAsync<OvaFormatException>(() => ImportTests.ImportAsync(ova, dir.Out));
        dir.AssertOutEmpty();
        return error;
    }
}
