using System.Text;
using Engine.Ova.Import;
using Engine.Ova.Tests.Infrastructure;

namespace Engine.Ova.Tests;

/// <summary>
/// GNU sparse members, as <c>tar --sparse</c> packs raw disks: old GNU 'S' headers and pax GNU.sparse 0.0, 0.1 and
/// 1.0, made by the real GNU tar. Their content is the expanded file; hostile maps are refused.
/// </summary>
public sealed class SparseMemberTests
{
    private const int DiskBytes = 8 << 20;

    [Theory]
    [InlineData("gnu", null)]
    [InlineData("pax", "0.0")]
    [InlineData("pax", "0.1")]
    [InlineData("pax", "1.0")]
    [InlineData("pax", null)]
    public async Task GnuTarSparse_ImportsTheExpandedDisk_KeepsItSparse_ChecksTheManifest(string format, string? version)
    {
        using var dir = new Scratch();
        var (withManifest, image) = await SparseOvaAsync(dir, format, version);
        var (withoutManifest, _) = await SparseOvaAsync(dir, format, version, manifest: false);

        // With a manifest entry every zero is hashed; without one, holes are skipped unread.
        foreach (var (ova, fromPipe) in new[] { (withManifest, false), (withManifest, true), (withoutManifest, false), (withoutManifest, true) })
        {
            var disk = Assert.Single(fromPipe ? await ImportFromPipeAsync(ova, dir.Out) : await ImportTests.ImportAsync(ova, dir.Out));

            Assert.Equal(Path.Combine(dir.Out, "disk.raw"), disk.OutputPath);
            Assert.Equal(DiskBytes, disk.VirtualSize);
            Assert.Equal(ova == withManifest ? "verified" : "absent", disk.Manifest);
            Assert.Equal(image, await File.ReadAllBytesAsync(disk.OutputPath));
            Assert.Equal(3 * 65536, disk.DataBytes);
            await AssertSparseAsync(disk.OutputPath);
            File.Delete(disk.OutputPath);
        }
    }

    [Fact]
    public async Task GnuTarSparse_ThroughTheCli()
    {
        using var dir = new Scratch();
        var (ova, image) = await SparseOvaAsync(dir, "gnu", null);

        (await EngineCli.RunAsync(["ova", "import", "-", "--to", dir.Out], stdinFile: ova)).AssertSuccess();

        Assert.Equal(image, await File.ReadAllBytesAsync(Path.Combine(dir.Out, "disk.raw")));
    }

    [Fact]
    public async Task Serve_SparseMember_IsRefusedAsUnsupported()
    {
        using var dir = new Scratch();
        var (ova, _) = await SparseOvaAsync(dir, "gnu", null);

        (await EngineCli.RunAsync(["ova", "serve", ova, "--socket", dir["s.sock"]])).AssertFailure(69, "GNU sparse member");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Extract_SparseMember_IsWrittenSparse(bool manifest)
    {
        using var dir = new Scratch();
        var (ova, image) = await SparseOvaAsync(dir, "pax", null, manifest);

        (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out, "--extract"])).AssertSuccess();

        var output = Path.Combine(dir.Out, "disk.raw");
        Assert.Equal(image, await File.ReadAllBytesAsync(output));
        await AssertSparseAsync(output);
    }

    [Fact]
    public async Task Extract_SparseMemberOfAnAbsurdSize_IsRefused_AndNothingIsLeft()
    {
        using var dir = new Scratch();
        var ova = new TarBuilder()
            .File("vm.ovf", Descriptors.SingleDisk("disk.raw", DiskBytes, "http://en.wikipedia.org/wiki/Byte"))
            .Pax(("GNU.sparse.size", (1L << 58).ToString(System.Globalization.CultureInfo.InvariantCulture)), ("GNU.sparse.map", "0,4096"), ("GNU.sparse.name", "disk.raw"))
            .File("GNUSparseFile.1/disk.raw", new byte[4096])
            .Save(dir["vm.ova"]);

        (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out, "--extract"])).AssertFailure(65, "TiB limit").AssertNoRuntimeText();

        dir.AssertOutEmpty();
    }

    [Theory]
    [InlineData("0,4096,0,4096", 8192, "overlaps")]
    [InlineData("65536,4096,0,4096", 8192, "overlaps or comes before")]
    [InlineData("0,4096,8388608,4096", 8192, "runs past the file's size")]
    [InlineData("0,4096", 8192, "8192 are stored")]
    [InlineData("0,4096,4096", 4096, "offset without a length")]
    [InlineData("0,-1", 0, "not a number")]
    public async Task HostileSparseMap_IsRefused(string map, int stored, string message)
    {
        using var dir = new Scratch();
        var ova = new TarBuilder()
            .File("vm.ovf", Descriptors.SingleDisk("disk.raw", DiskBytes, "http://en.wikipedia.org/wiki/Byte"))
            .Pax(("GNU.sparse.size", DiskBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("GNU.sparse.map", map), ("GNU.sparse.name", "disk.raw"))
            .File("GNUSparseFile.1/disk.raw", new byte[stored])
            .Save(dir["vm.ova"]);

        var error = await Assert.ThrowsAsync<OvaFormatException>(() => ImportTests.ImportAsync(ova, dir.Out));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        dir.AssertOutEmpty();
        (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out])).AssertFailure(65, message);
        dir.AssertOutEmpty();
    }

    [Theory]
    [InlineData("2\n0\n4096\n0\n4096\n", "overlaps")]
    [InlineData("1\n0\nx\n", "not decimal numbers")]
    [InlineData("99999999\n", "limit")]
    public async Task HostileSparse10Map_IsRefused(string mapText, string message)
    {
        using var dir = new Scratch();
        var map = new byte[512];
        Encoding.ASCII.GetBytes(mapText).CopyTo(map, 0);
        var ova = new TarBuilder()
            .File("vm.ovf", Descriptors.SingleDisk("disk.raw", DiskBytes, "http://en.wikipedia.org/wiki/Byte"))
            .Pax(("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", "disk.raw"), ("GNU.sparse.realsize", DiskBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .File("GNUSparseFile.1/disk.raw", [.. map, .. new byte[8192]])
            .Save(dir["vm.ova"]);

        var error = await Assert.ThrowsAsync<OvaFormatException>(() => ImportTests.ImportAsync(ova, dir.Out));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Contains("offset", error.Message, StringComparison.Ordinal);
        dir.AssertOutEmpty();
    }

    [Fact]
    public async Task OldGnuSparseHeader_OverlappingMap_IsRefused()
    {
        using var dir = new Scratch();
        var (ova, _) = await SparseOvaAsync(dir, "gnu", null);
        var bytes = await File.ReadAllBytesAsync(ova);
        var header = FindHeader(bytes, "disk.raw", (byte)'S');
        // Second region's offset := first region's offset: the two overlap.
        bytes.AsSpan(header + 386, 12).CopyTo(bytes.AsSpan(header + 386 + 24, 12));
        FixChecksum(bytes.AsSpan(header, 512));
        await File.WriteAllBytesAsync(ova, bytes);

        var error = await Assert.ThrowsAsync<OvaFormatException>(() => ImportTests.ImportAsync(ova, dir.Out));

        Assert.Contains("sparse map entry 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("'disk.raw'", error.Message, StringComparison.Ordinal);
        dir.AssertOutEmpty();
    }

    /// <summary>An 8 MiB disk with three 64 KiB data runs (one at the start, one inside, one at the very end) packed by GNU tar.</summary>
    private static async Task<(string Ova, byte[] Image)> SparseOvaAsync(Scratch dir, string format, string? version, bool manifest = true)
    {
        var pkg = Directory.CreateDirectory(dir[manifest ? "pkg" : "pkg-no-mf"]).FullName;
        var image = new byte[DiskBytes];
        var random = new Random(51);
        foreach (var offset in new[] { 0, 3 << 20, DiskBytes - 65536 })
        {
            random.NextBytes(image.AsSpan(offset, 65536));
        }

        var disk = Path.Combine(pkg, "disk.raw");
        await using (var file = new FileStream(disk, FileMode.Create))
        {
            file.SetLength(DiskBytes);
            foreach (var offset in new[] { 0, 3 << 20, DiskBytes - 65536 })
            {
                file.Position = offset;
                await file.WriteAsync(image.AsMemory(offset, 65536));
            }
        }

        var ovf = Descriptors.SingleDisk("disk.raw", DiskBytes, "http://en.wikipedia.org/wiki/Byte");
        await File.WriteAllBytesAsync(Path.Combine(pkg, "vm.ovf"), ovf);
        string[] members = ["vm.ovf", "disk.raw"];
        if (manifest)
        {
            await File.WriteAllTextAsync(Path.Combine(pkg, "vm.mf"), Images.ManifestLine("SHA256", "vm.ovf", ovf) + Images.ManifestLine("SHA256", "disk.raw", image));
            members = ["vm.ovf", "vm.mf", "disk.raw"];
        }

        var ova = dir[manifest ? "vm.ova" : "vm-no-mf.ova"];
        string[] sparse = version is null ? ["--sparse"] : ["--sparse", $"--sparse-version={version}"];
        (await Tool.RunAsync("tar", [.. sparse, $"--format={format}", "-C", pkg, "-cf", ova, .. members])).AssertSuccess();
        Assert.True(new FileInfo(ova).Length < 1 << 20, "GNU tar did not store the disk sparse");
        return (ova, image);
    }

    private static async Task<IReadOnlyList<ImportedDisk>> ImportFromPipeAsync(string ova, string target)
    {
        using var pipe = new NonSeekableStream(await File.ReadAllBytesAsync(ova));
        return await OvaImporter.ImportAsync(pipe, "stdin", new OvaImportOptions { TargetDirectory = target }, CancellationToken.None);
    }

    /// <summary>Three 64 KiB runs of data in 8 MiB: anything above 1 MiB allocated means the holes were written.</summary>
    private static async Task AssertSparseAsync(string path)
    {
        var allocated = (await Tool.RunAsync("stat", "-c", "%b", path)).AssertSuccess();
        Assert.True(long.Parse(allocated.Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture) * 512 <= 1 << 20, $"{path} is not sparse: {allocated.Stdout.Trim()} blocks");
    }

    private static int FindHeader(byte[] archive, string name, byte type)
    {
        for (var offset = 0; offset + 512 <= archive.Length; offset += 512)
        {
            if (archive[offset + 156] == type && archive.AsSpan(offset, 100).StartsWith(Encoding.ASCII.GetBytes(name + "\0")))
            {
                return offset;
            }
        }

        Assert.Fail($"no '{(char)type}' header for {name}");
        return -1;
    }

    private static void FixChecksum(Span<byte> header)
    {
        header.Slice(148, 8).Fill((byte)' ');
        var sum = 0;
        foreach (var b in header)
        {
            sum += b;
        }

        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header[148..]);
    }
}
