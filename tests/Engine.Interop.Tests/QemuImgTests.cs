using System.Text.Json;
using Engine.Interop.Tests.Infrastructure;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests;

/// <summary>qemu-img (QEMU 7.2) against Engine exports: convert both ways, qcow2, compare, info.</summary>
public sealed class QemuImgTests
{
    private const long Size = 16 * MiB;
    private static readonly (long Offset, int Length)[] Data = [(0, 256 * KiB), (2 * MiB, 2 * MiB), (9 * MiB + 4 * KiB, 100 * KiB), (16 * MiB - 64 * KiB, 64 * KiB)];

    [Fact]
    public async Task ConvertFromExport_ToRaw_IsIdentical()
    {
        using var dir = new TempDir();
        var source = CreateSparse(dir["src.raw"], Size, 51, Data);
        await using var server = new EngineServer(dir);
        server.Export("", server.OpenFile(source, readOnly: true), readOnly: true).Listen();

        var output = dir["out.raw"];
        (await Tool.RunAsync("qemu-img", "convert", "-f", "raw", "-O", "raw", server.Uri(), output)).AssertSuccess();

        await AssertIdentical("raw", source, "raw", output);
        await AssertIdentical("raw", server.Uri(), "raw", output);
        Assert.Equal(Sha256(source), Sha256(output));
    }

    [Fact]
    public async Task ConvertIntoWritableExport_IsIdentical()
    {
        using var dir = new TempDir();
        var input = CreateSparse(dir["in.raw"], Size, 52, Data);

        // The export starts with unrelated data, so every hole of the input must be zeroed through the server.
        var backing = CreateRandom(dir["disk.raw"], Size, 53);
        await using var server = new EngineServer(dir);
        server.Export("disk", server.OpenFile(backing)).Listen();

        (await Tool.RunAsync("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", input, server.Uri("disk"))).AssertSuccess();

        await AssertIdentical("raw", input, "raw", server.Uri("disk"));
        Assert.Equal(Sha256(input), Sha256(backing));
    }

    [Fact]
    public async Task ConvertFromExport_ToQcow2_IsIdentical()
    {
        using var dir = new TempDir();
        var source = CreateSparse(dir["src.raw"], Size, 54, Data);
        await using var server = new EngineServer(dir);
        server.Export("src", server.OpenFile(source, readOnly: true), readOnly: true).Listen();

        var output = dir["out.qcow2"];
        (await Tool.RunAsync("qemu-img", "convert", "-f", "raw", "-O", "qcow2", server.Uri("src"), output)).AssertSuccess();

        await AssertIdentical("raw", source, "qcow2", output);
        var info = (await Tool.RunAsync("qemu-img", "info", "--output=json", output)).AssertSuccess();
        using var doc = JsonDocument.Parse(info.Stdout);
        Assert.Equal("qcow2", doc.RootElement.GetProperty("format").GetString());
        Assert.Equal(Size, doc.RootElement.GetProperty("virtual-size").GetInt64());

        // qemu-img used block status: the holes of the source are not allocated in the qcow2.
        var map = (await Tool.RunAsync("qemu-img", "map", "--output=json", output)).AssertSuccess();
        using var mapDoc = JsonDocument.Parse(map.Stdout);
        var allocated = mapDoc.RootElement.EnumerateArray().Where(e => e.GetProperty("data").GetBoolean()).Sum(e => e.GetProperty("length").GetInt64());
        var dataBytes = Data.Sum(d => (long)d.Length);
        Assert.True(allocated < dataBytes + 1 * MiB, $"qcow2 has {allocated} data bytes for {dataBytes} bytes of source data\n{map.Stdout}");
    }

    [Fact]
    public async Task Info_ReportsVirtualSize()
    {
        using var dir = new TempDir();
        var source = CreateSparse(dir["src.raw"], Size + 512, 55, (0, 4096));
        await using var server = new EngineServer(dir);
        server.Export("odd", server.OpenFile(source, readOnly: true), readOnly: true).Listen();

        var info = (await Tool.RunAsync("qemu-img", "info", "--output=json", "-f", "raw", server.Uri("odd"))).AssertSuccess();
        using var doc = JsonDocument.Parse(info.Stdout);
        Assert.Equal(Size + 512, doc.RootElement.GetProperty("virtual-size").GetInt64());
        Assert.Equal("raw", doc.RootElement.GetProperty("format").GetString());

        var human = (await Tool.RunAsync("qemu-img", "info", "-f", "raw", server.Uri("odd"))).AssertSuccess();
        Assert.Contains($"({Size + 512} bytes)", human.Stdout, StringComparison.Ordinal);
    }

    private static async Task AssertIdentical(string format1, string image1, string format2, string image2)
    {
        var result = await Tool.RunAsync("qemu-img", "compare", "-f", format1, "-F", format2, image1, image2);
        Assert.True(result.ExitCode == 0 && result.Stdout.Contains("Images are identical.", StringComparison.Ordinal),
            $"qemu-img compare reports a difference\n{result}");
    }
}
