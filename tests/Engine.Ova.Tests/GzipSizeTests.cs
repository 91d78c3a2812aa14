using Engine.Ova.Tests.Infrastructure;

namespace Engine.Ova.Tests;

/// <summary>
/// <c>ovf:size</c> of a gzip file: OVF says it is the stored (compressed) size; producers also write the inflated size,
/// which is accepted with a warning. Any other value is still an error.
/// </summary>
public sealed class GzipSizeTests
{
    private const int DiskBytes = 2 << 20;

    [Theory]
    [InlineData("compressed", 0, null)]
    [InlineData("inflated", 0, "is the inflated size")]
    [InlineData("inflated", 512, "ovf:size")]
    [InlineData("compressed", 1, "ovf:size")]
    public async Task GzipOvfSize(string meaning, int off, string? expected)
    {
        using var dir = new Scratch();
        var image = Images.Pattern(DiskBytes, 61);
        var gz = Images.Gzip(image);
        var declared = (meaning == "inflated" ? image.Length : gz.Length) + off;
        var ovf = Descriptors.SingleDisk("disk.raw.gz", DiskBytes, "http://en.wikipedia.org/wiki/Byte", $"ovf:compression=\"gzip\" ovf:size=\"{declared}\"");
        var ova = new TarBuilder().File("vm.ovf", ovf).File("disk.raw.gz", gz).Save(dir["vm.ova"]);
        var warnings = new List<string>();

        var import = ImportTests.ImportAsync(ova, dir.Out, warnings);

        if (off != 0)
        {
            var error = await Assert.ThrowsAsync<OvaFormatException>(() => import);
            Assert.Contains(expected!, error.Message, StringComparison.Ordinal);
            Assert.Contains("disk.raw.gz", error.Message, StringComparison.Ordinal);
            dir.AssertOutEmpty();
            (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out])).AssertFailure(65, "ovf:size");
            return;
        }

        var disk = Assert.Single(await import);
        Assert.Equal(image, await File.ReadAllBytesAsync(disk.OutputPath));
        if (expected is null)
        {
            Assert.Empty(warnings);
        }
        else
        {
            Assert.Contains(expected, Assert.Single(warnings), StringComparison.Ordinal);
            File.Delete(disk.OutputPath);
            var cli = (await EngineCli.RunAsync(["ova", "import", ova, "--to", dir.Out])).AssertSuccess();
            Assert.Contains("warning", cli.Stderr, StringComparison.Ordinal);
        }
    }
}
