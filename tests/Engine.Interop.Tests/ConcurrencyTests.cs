using Engine.Interop.Tests.Infrastructure;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests;

/// <summary>Several real clients on one server at the same time.</summary>
public sealed class ConcurrencyTests
{
    private const long Size = 32 * MiB;

    [Fact]
    public async Task SimultaneousClients_EachByteExact()
    {
        using var dir = new TempDir();
        var source = CreateRandom(dir["a.raw"], Size, 101);
        var upload = CreateRandom(dir["up.raw"], Size, 102);
        await using var server = new EngineServer(dir);
        server.Export("a", server.OpenFile(source, readOnly: true), readOnly: true)
              .Export("b", server.Memory(Size))
              .Listen();

        // Two nbdcopy clients (one reading export a, one writing export b, 4 connections each) plus qemu-img reading a.
        var outA = dir["a.out"];
        var outQ = dir["q.out"];
        var results = await Task.WhenAll(
            Tool.RunAsync("nbdcopy", "--connections=4", "--requests=64", server.Uri("a"), outA),
            Tool.RunAsync("nbdcopy", "--connections=4", "--requests=64", upload, server.Uri("b")),
            Tool.RunAsync("qemu-img", "convert", "-f", "raw", "-O", "raw", server.Uri("a"), outQ));
        foreach (var result in results)
        {
            result.AssertSuccess();
        }

        var expectedA = Sha256(source);
        Assert.Equal(expectedA, Sha256(outA));
        Assert.Equal(expectedA, Sha256(outQ));

        var outB = dir["b.out"];
        (await Tool.RunAsync("nbdcopy", server.Uri("b"), outB)).AssertSuccess();
        Assert.Equal(Sha256(upload), Sha256(outB));

        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task TwoWritersOnDisjointHalves_OfOneExport()
    {
        using var dir = new TempDir();
        var backing = dir["disk.raw"];
        using (var stream = new FileStream(backing, FileMode.Create))
        {
            stream.SetLength(Size);
        }

        const long half = Size / 2;
        var lower = RandomBytes((int)half, 103);
        var upper = RandomBytes((int)half, 104);
        await using var server = new EngineServer(dir);
        server.Export("", server.OpenFile(backing)).Listen();

        var writes = await Task.WhenAll(
            QemuIoWrite(dir, server.Uri(), lower, 0),
            QemuIoWrite(dir, server.Uri(), upper, half));
        foreach (var result in writes)
        {
            result.AssertSuccess();
        }

        var disk = File.ReadAllBytes(backing);
        Assert.True(disk.AsSpan(0, (int)half).SequenceEqual(lower), "lower half differs");
        Assert.True(disk.AsSpan((int)half).SequenceEqual(upper), "upper half differs");
    }

    private static async Task<ToolResult> QemuIoWrite(TempDir dir, string uri, byte[] data, long offset)
    {
        var chunk = dir[$"chunk{offset}"];
        await File.WriteAllBytesAsync(chunk, data);
        return await Tool.RunAsync("qemu-io", ["-f", "raw", "-c", $"write -s {chunk} {offset} {data.Length}", "-c", "flush", uri], Tool.DefaultTimeout);
    }
}
