using System.Buffers.Binary;
using Engine.Qcow2.Format;
using Engine.Qcow2.Reading;
using static Engine.Qcow2.Tests.ReadingImages;

namespace Engine.Qcow2.Tests;

/// <summary>
/// Which files an image may make the reader open (<see cref="Qcow2ReaderOptions.ExternalFiles"/>): none for an image
/// whose format was only probed, regular files by default, block devices only when allowed; names with a NUL refused.
/// </summary>
public sealed class ExternalFilePolicyTests
{
    private static readonly Qcow2ReaderOptions Probed = new() { ExternalFiles = Qcow2ExternalFiles.None };

    [Fact]
    public async Task A_probed_image_naming_a_backing_file_is_refused_without_opening_it()
    {
        using var dir = new TempDir();
        await File.WriteAllTextAsync(dir["secret"], "host secret");
        await QemuImgAsync("create", "-q", "-u", "-f", "qcow2", "-b", dir["secret"], "-F", "raw", dir["guest.qcow2"], "1M");

        var error = Assert.Throws<Qcow2ExternalFileException>(() => Qcow2BlockDevice.Open(dir["guest.qcow2"], Probed));
        Assert.Equal(dir["secret"], error.FileName);
        Assert.Equal(dir["guest.qcow2"], error.ImagePath);
        Assert.Contains($"backing file '{dir["secret"]}' is not followed", error.Message, StringComparison.Ordinal);

        // Given the format, the same image follows its backing file (a regular file).
        await using var followed = Qcow2BlockDevice.Open(dir["guest.qcow2"]);
        var start = new byte[11];
        await followed.ReadAsync(0, start);
        Assert.Equal("host secret"u8.ToArray(), start);
    }

    [Fact]
    public async Task A_probed_image_naming_an_external_data_file_is_refused()
    {
        using var dir = new TempDir();
        await QemuImgAsync("create", "-q", "-f", "qcow2", "-o", $"data_file={dir["data.raw"]}", dir["guest.qcow2"], "1M");

        var error = Assert.Throws<Qcow2ExternalFileException>(() => Qcow2BlockDevice.Open(dir["guest.qcow2"], Probed));
        Assert.Equal(dir["data.raw"], error.FileName);
        Assert.Contains("external data file", error.Message, StringComparison.Ordinal);
        await using var followed = Qcow2BlockDevice.Open(dir["guest.qcow2"]);
        Assert.Equal(1L << 20, followed.Size);
    }

    [Fact]
    public async Task A_block_device_backing_file_is_refused_unless_allowed()
    {
        using var dir = new TempDir();
        await File.WriteAllBytesAsync(dir["lower.raw"], Enumerable.Repeat((byte)0x5a, 1 << 20).ToArray());
        var loop = (await Tool.RunAsync("/usr/sbin/losetup", "-f", "--show", "-r", dir["lower.raw"])).AssertSuccess().Stdout.Trim();
        try
        {
            await QemuImgAsync("create", "-q", "-u", "-f", "qcow2", "-b", loop, "-F", "raw", dir["top.qcow2"], "1M");
            var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(dir["top.qcow2"]));
            Assert.Contains($"backing file '{loop}' ({loop}) is a block device", error.Message, StringComparison.Ordinal);
            Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.OpenBacking(loop, "raw"));

            await using var allowed = Qcow2BlockDevice.Open(dir["top.qcow2"], new Qcow2ReaderOptions { ExternalFiles = Qcow2ExternalFiles.RegularFilesAndBlockDevices });
            var first = new byte[4];
            await allowed.ReadAsync(0, first);
            Assert.Equal(new byte[] { 0x5a, 0x5a, 0x5a, 0x5a }, first);
        }
        finally
        {
            (await Tool.RunAsync("/usr/sbin/losetup", "-d", loop)).AssertSuccess();
        }
    }

    [Fact]
    public async Task A_backing_file_name_with_a_nul_byte_is_refused()
    {
        using var dir = new TempDir();
        await File.WriteAllBytesAsync(dir["base.raw"], new byte[1 << 20]);
        await QemuImgAsync("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", dir["top.qcow2"], "1M");
        long nameOffset;
        await using (var stream = new FileStream(dir["top.qcow2"], FileMode.Open, FileAccess.ReadWrite))
        {
            var header = new byte[16];
            await stream.ReadExactlyAsync(header);
            nameOffset = (long)BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8));

            // "base\0raw": qemu would open "base", Engine would show "base\0raw".
            stream.Position = nameOffset + 4;
            stream.WriteByte(0);
        }

        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.Open(dir["top.qcow2"]));
        Assert.Equal(nameOffset + 4, error.Offset);
        Assert.Contains("NUL", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenBacking_dispatches_raw_and_qcow2_by_format_or_magic()
    {
        using var dir = new TempDir();
        await File.WriteAllBytesAsync(dir["base.raw"], Enumerable.Repeat((byte)7, 65536).ToArray());
        await QemuImgAsync("convert", "-f", "raw", "-O", "qcow2", dir["base.raw"], dir["base.qcow2"]);
        await using (var raw = Qcow2BlockDevice.OpenBacking(dir["base.raw"], null))
        {
            Assert.IsNotType<Qcow2BlockDevice>(raw);
            Assert.Equal(65536, raw.Size);
        }

        await using (var probed = Qcow2BlockDevice.OpenBacking(dir["base.qcow2"], null))
        {
            Assert.IsType<Qcow2BlockDevice>(probed);
        }

        await using (var asRaw = Qcow2BlockDevice.OpenBacking(dir["base.qcow2"], "raw"))
        {
            Assert.IsNotType<Qcow2BlockDevice>(asRaw);
        }

        Assert.Contains("'vmdk'", Assert.Throws<Qcow2FormatException>(() => Qcow2BlockDevice.OpenBacking(dir["base.raw"], "vmdk")).Message, StringComparison.Ordinal);
    }
}
