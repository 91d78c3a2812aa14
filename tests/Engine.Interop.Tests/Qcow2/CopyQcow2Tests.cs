using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Qcow2;

/// <summary>
/// <c>engine copy SRC DST.qcow2</c> against <c>qemu-img convert -O qcow2</c>: the image passes <c>qemu-img check</c>,
/// holds the same guest bytes as qemu's, and is no larger on disk, zeroes staying unallocated.
/// </summary>
public sealed class CopyQcow2Tests
{
    public enum Content
    {
        Random,
        Zero,
        Sparse,
    }

    [Theory]
    [InlineData(Content.Random)]
    [InlineData(Content.Zero)]
    [InlineData(Content.Sparse)]
    public async Task Raw_to_qcow2_is_clean_and_equals_qemu_img_convert(Content content)
    {
        using var dir = new TempDir();
        var size = 48L * MiB + 4096;
        var source = dir["src.raw"];
        switch (content)
        {
            case Content.Random:
                CreateRandom(source, size, 21);
                break;
            case Content.Zero:
                // Written zeroes (allocated in the file): the copy finds them by scanning.
                await File.WriteAllBytesAsync(source, new byte[size]);
                break;
            default:
                CreateSparse(source, size, 22, (0, 65536), (3 * MiB + 512, 1000), (20 * MiB, 5 * MiB), (size - 4096, 4096));
                await using (var stream = new FileStream(source, FileMode.Open, FileAccess.Write))
                {
                    // A written-zero run inside the data, which must not be allocated either.
                    stream.Position = 21 * MiB;
                    await stream.WriteAsync(new byte[MiB]);
                }

                break;
        }

        (await EngineCli.RunAsync("copy", source, dir["engine.qcow2"])).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "convert", "-f", "raw", "-O", "qcow2", source, dir["qemu.qcow2"])).AssertSuccess();

        await Qcow2Checks.AssertCleanAsync(dir["engine.qcow2"]);
        await Qcow2Checks.AssertSameAsync(dir["engine.qcow2"], "qcow2", dir["qemu.qcow2"], "qcow2");
        await Qcow2Checks.AssertSameAsync(dir["engine.qcow2"], "qcow2", source, "raw");
        var ours = new FileInfo(dir["engine.qcow2"]).Length;
        var theirs = new FileInfo(dir["qemu.qcow2"]).Length;
        Assert.True(ours <= theirs + (64 << 10), $"engine's image takes {ours} bytes, qemu-img's {theirs}");
    }

    [Fact]
    public async Task Dst_format_qcow2_writes_qcow2_under_any_name_and_needs_a_file()
    {
        using var dir = new TempDir();
        var source = CreateRandom(dir["src.raw"], 3 * MiB, 23);
        (await EngineCli.RunAsync("copy", "--dst-format", "qcow2", source, dir["disk.img"])).AssertSuccess();
        await Qcow2Checks.AssertCleanAsync(dir["disk.img"]);
        await Qcow2Checks.AssertSameAsync(dir["disk.img"], "qcow2", source, "raw");

        // Copied again over the same name: replaced, as a raw target is truncated.
        (await EngineCli.RunAsync("copy", "--flush", "-O", "qcow2", source, dir["disk.img"])).AssertSuccess();
        await Qcow2Checks.AssertCleanAsync(dir["disk.img"]);

        (await EngineCli.RunAsync("copy", "--dst-format", "qcow2", source, "null:"))
            .AssertFailure(64, "--dst-format qcow2 needs a file target, not null:");
        (await EngineCli.RunAsync("copy", "--dst-format", "raw", source, dir["plain.qcow2"])).AssertSuccess();
        Assert.Equal(await File.ReadAllBytesAsync(source), await File.ReadAllBytesAsync(dir["plain.qcow2"]));
    }

    [Fact]
    public async Task A_qcow2_source_is_read_as_its_guest_disk_backing_chain_included()
    {
        using var dir = new TempDir();
        var baseRaw = CreateRandom(dir["base.raw"], 16 * MiB, 24);
        (await Tool.RunAsync("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", baseRaw, dir["base.qcow2"])).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", dir["top.qcow2"])).AssertSuccess();
        (await Qcow2Checks.QemuIoAsync(dir["top.qcow2"], "qcow2", "write -P 0x77 1M 100k", "write -z 5M 2M", "discard 9M 1M")).AssertSuccess();

        // Recognised by its magic alone, the image may not name a backing file; named qcow2, its chain is read.
        (await EngineCli.RunAsync("copy", dir["top.qcow2"], dir["flat.raw"])).AssertFailure(65, "pass --format qcow2 to follow 'base.qcow2'");
        (await EngineCli.RunAsync("copy", "--format", "qcow2", dir["top.qcow2"], dir["flat.raw"])).AssertSuccess();
        await Qcow2Checks.AssertSameAsync(dir["top.qcow2"], "qcow2", dir["flat.raw"], "raw");

        // qcow2 to qcow2: the chain flattened into one clean image.
        (await EngineCli.RunAsync("copy", "-f", "qcow2", dir["top.qcow2"], dir["flat.qcow2"])).AssertSuccess();
        await Qcow2Checks.AssertCleanAsync(dir["flat.qcow2"]);
        await Qcow2Checks.AssertSameAsync(dir["flat.qcow2"], "qcow2", dir["top.qcow2"], "qcow2");
    }

    [Fact]
    public async Task A_malformed_qcow2_source_exits_65_naming_the_file()
    {
        using var dir = new TempDir();
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", dir["bad.qcow2"], "1M")).AssertSuccess();
        await using (var stream = new FileStream(dir["bad.qcow2"], FileMode.Open, FileAccess.Write))
        {
            // Refcount order 7 (128-bit refcounts) is out of range.
            stream.Position = 96;
            await stream.WriteAsync(new byte[] { 0, 0, 0, 7 });
        }

        var result = await EngineCli.RunAsync("copy", dir["bad.qcow2"], dir["out.raw"]);
        result.AssertFailure(65, dir["bad.qcow2"]).AssertNoRuntimeText();
    }
}
