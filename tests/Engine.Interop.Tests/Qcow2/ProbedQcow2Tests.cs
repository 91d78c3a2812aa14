using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Qcow2;

/// <summary>
/// A raw disk whose guest wrote a qcow2 header is recognised by its magic, and must not steer the host: without
/// <c>--format qcow2</c>, <c>engine copy</c> and <c>engine serve</c> follow no backing or external data file it names
/// (exit 65, naming the file and the flag) and serve it read-only; <c>--format raw</c> reads the bytes as they are.
/// </summary>
public sealed class ProbedQcow2Tests
{
    [Fact]
    public async Task A_raw_disk_with_a_guest_written_qcow2_header_naming_a_host_file_is_refused_unless_the_format_is_given()
    {
        using var dir = new TempDir();
        await File.WriteAllTextAsync(dir["host-secret"], "root password");

        // What a guest could write to the start of its raw disk: a qcow2 header whose backing file is a host file.
        (await Tool.RunAsync("qemu-img", "create", "-q", "-u", "-f", "qcow2", "-b", dir["host-secret"], "-F", "raw", dir["disk.raw"], "1M")).AssertSuccess();

        var copy = await EngineCli.RunAsync("copy", dir["disk.raw"], dir["out.raw"]);
        copy.AssertFailure(65, $"{dir["disk.raw"]}: at offset").AssertFailure(65, $"pass --format qcow2 to follow '{dir["host-secret"]}'").AssertNoRuntimeText();
        var serve = await EngineCli.RunAsync("serve", dir["disk.raw"], "--socket", dir["a.sock"]);
        serve.AssertFailure(65, $"pass --format qcow2 to follow '{dir["host-secret"]}'").AssertNoRuntimeText();

        // --format raw: the disk's bytes, header and all.
        (await EngineCli.RunAsync("copy", "--format", "raw", dir["disk.raw"], dir["bytes.raw"])).AssertSuccess();
        Assert.Equal(await File.ReadAllBytesAsync(dir["disk.raw"]), await File.ReadAllBytesAsync(dir["bytes.raw"]));

        // --format qcow2: the user vouches for the image, and its backing file is followed.
        (await EngineCli.RunAsync("copy", "-f", "qcow2", dir["disk.raw"], dir["followed.raw"])).AssertSuccess();
        Assert.StartsWith("root password", await File.ReadAllTextAsync(dir["followed.raw"]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_probed_qcow2_naming_an_external_data_file_is_refused()
    {
        using var dir = new TempDir();
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"data_file={dir["data.raw"]}", dir["disk.img"], "1M")).AssertSuccess();
        (await EngineCli.RunAsync("copy", dir["disk.img"], dir["out.raw"]))
            .AssertFailure(65, $"external data file '{dir["data.raw"]}' is not followed").AssertFailure(65, "pass --format qcow2").AssertNoRuntimeText();
        (await EngineCli.RunAsync("copy", "--format", "qcow2", dir["disk.img"], dir["out.raw"])).AssertSuccess();
    }

    [Fact]
    public async Task A_qcow2_recognised_by_its_magic_is_served_read_only_and_with_the_format_writable()
    {
        using var dir = new TempDir();
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", dir["disk.img"], "4M")).AssertSuccess();
        var before = await File.ReadAllBytesAsync(dir["disk.img"]);
        await using (var engine = EngineCli.Start("serve", dir["disk.img"], "--socket", dir["a.sock"]))
        {
            await engine.WaitUntilAsync(() => engine.Stdout.Contains("nbd+unix://", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the URI on stdout");
            Assert.Contains("served read-only; pass --format qcow2 to write it", engine.Stderr, StringComparison.Ordinal);
            var write = await Qcow2Checks.QemuIoAsync($"nbd+unix:///?socket={dir["a.sock"]}", "raw", "write -P 0x55 0 64k");
            Assert.True(write.ExitCode != 0 || write.Stdout.Contains("failed", StringComparison.OrdinalIgnoreCase), write.ToString());
        }

        Assert.Equal(before, await File.ReadAllBytesAsync(dir["disk.img"]));

        await using (var engine = EngineCli.Start("serve", "--format", "qcow2", dir["disk.img"], "--socket", dir["b.sock"]))
        {
            await engine.WaitUntilAsync(() => engine.Stdout.Contains("nbd+unix://", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the URI on stdout");
            (await Qcow2Checks.QemuIoAsync($"nbd+unix:///?socket={dir["b.sock"]}", "raw", "write -P 0x55 0 64k")).AssertSuccess();
        }

        (await Qcow2Checks.QemuIoAsync(dir["disk.img"], "qcow2", "read -P 0x55 0 64k")).AssertSuccess();
    }

    [Fact]
    public async Task Direct_on_a_qcow2_serve_is_refused()
    {
        using var dir = new TempDir();
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", dir["disk.qcow2"], "1M")).AssertSuccess();
        (await EngineCli.RunAsync("serve", "--format", "qcow2", "--direct", dir["disk.qcow2"], "--socket", dir["a.sock"]))
            .AssertFailure(64, "--direct does not apply to qcow2 images").AssertNoRuntimeText();
    }

    [Fact]
    public async Task Copy_to_qcow2_never_unlinks_a_node_at_the_target_and_replaces_a_file_only_when_done()
    {
        using var dir = new TempDir();
        var source = CreateRandom(dir["src.raw"], 2 * MiB, 31);
        (await Tool.RunAsync("mkfifo", dir["fifo"])).AssertSuccess();
        (await EngineCli.RunAsync("copy", "--dst-format", "qcow2", source, dir["fifo"]))
            .AssertFailure(1, $"{dir["fifo"]} exists and is not a regular file").AssertNoRuntimeText();
        Assert.Equal("fifo", (await Tool.RunAsync("stat", "-c", "%F", dir["fifo"])).AssertSuccess().Stdout.Trim());

        // A copy that fails half-way (its qcow2 source's L1 entry points at an unaligned L2 table) leaves an existing
        // target as it was.
        (await Tool.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", dir["broken.qcow2"], "2M")).AssertSuccess();
        (await Qcow2Checks.QemuIoAsync(dir["broken.qcow2"], "qcow2", "write -P 1 0 64k")).AssertSuccess();
        await using (var stream = new FileStream(dir["broken.qcow2"], FileMode.Open, FileAccess.ReadWrite))
        {
            var header = new byte[48];
            await stream.ReadExactlyAsync(header);
            // Bit 9 of the entry: the L2 offset moves half a cluster.
            stream.Position = (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(40)) + 6;
            var b = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(b | 0x02));
        }

        await File.WriteAllTextAsync(dir["keep.qcow2"], "previous image");
        var failed = await EngineCli.RunAsync("copy", "--format", "qcow2", dir["broken.qcow2"], dir["keep.qcow2"]);
        Assert.NotEqual(0, failed.ExitCode);
        Assert.Equal("previous image", await File.ReadAllTextAsync(dir["keep.qcow2"]));

        // A finished copy replaces it, and leaves no temporary file behind.
        (await EngineCli.RunAsync("copy", source, dir["keep.qcow2"])).AssertSuccess();
        await Qcow2Checks.AssertSameAsync(dir["keep.qcow2"], "qcow2", source, "raw");
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
        Assert.Empty(Directory.GetFiles(dir.Path, ".keep.qcow2*"));
    }
}
