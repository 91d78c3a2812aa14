using Engine.Qcow2.Format;

namespace Engine.Qcow2.Tests;

/// <summary>The Format types read what qemu-img writes, and write back the same bytes.</summary>
public sealed class FormatQemuImageTests
{
    [Theory]
    [InlineData("compat=0.10")]
    [InlineData("compat=1.1")]
    [InlineData("compat=1.1,compression_type=zstd,extended_l2=on,refcount_bits=64")]
    public async Task Header_and_extensions_of_a_qemu_image_round_trip(string options)
    {
        using var dir = new TempDir();
        await Tool.RunAsync("qemu-img", "create", "-q", "-f", "raw", dir["base.raw"], "1M").ContinueWith(t => t.Result.AssertSuccess());
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", options, "-b", "base.raw", "-F", "raw",
            dir["top.qcow2"], "3G")).AssertSuccess();
        var first = new byte[65536];
        await using (var file = File.OpenRead(dir["top.qcow2"]))
        {
            await file.ReadExactlyAsync(first);
        }

        var header = Qcow2Header.Parse(first, "top.qcow2");
        Assert.Equal(3UL << 30, header.Size);
        Assert.Equal(options.StartsWith("compat=0.10", StringComparison.Ordinal) ? 2u : 3u, header.Version);
        var layout = header.Layout;
        Assert.Equal(layout.L1EntriesFor(header.Size), header.L1Size);
        var copy = new byte[first.Length];
        header.WriteTo(copy);
        Assert.Equal(first.AsSpan(0, header.EncodedLength).ToArray(), copy.AsSpan(0, header.EncodedLength).ToArray());

        var areaEnd = (int)header.BackingFileOffset;
        var extensions = Qcow2HeaderExtension.ParseArea(first.AsSpan(header.EncodedLength, areaEnd - header.EncodedLength), header.EncodedLength);
        Assert.Equal("raw", extensions.Single(e => e.Type == Qcow2HeaderExtensionType.BackingFormat).DataAsString());
        Assert.Equal("base.raw", System.Text.Encoding.UTF8.GetString(first, areaEnd, (int)header.BackingFileSize));
        var area = new byte[areaEnd - header.EncodedLength];
        var written = Qcow2HeaderExtension.WriteArea(extensions, area);
        Assert.Equal(first.AsSpan(header.EncodedLength, written).ToArray(), area.AsSpan(0, written).ToArray());
        if (header.Version == 3)
        {
            var names = Qcow2FeatureName.ParseTable(extensions.Single(e => e.Type == Qcow2HeaderExtensionType.FeatureNameTable).Data.Span);
            Assert.Equal("extended L2 entries", Qcow2FeatureName.Find(names, Qcow2FeatureKind.Incompatible, 4));
        }
        if (options.Contains("zstd", StringComparison.Ordinal))
        {
            Assert.Equal(Qcow2CompressionType.Zstd, header.CompressionType);
            Assert.True(header.HasExtendedL2);
            Assert.Equal(6, header.RefcountOrder);
        }
    }
}
