using Engine.Interop.Tests.Infrastructure;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests;

/// <summary>nbdcopy (libnbd 1.14) in both directions, several connection/request settings, sparseness.</summary>
public sealed class NbdcopyTests
{
    [Theory]
    [InlineData("memory", new string[0])]
    [InlineData("memory", new[] { "--connections=4", "--requests=64" })]
    [InlineData("file", new[] { "--connections=4", "--requests=64", "--flush" })]
    [InlineData("file", new[] { "--connections=1" })]
    public async Task FileToExportAndBack_IsByteExact(string backend, string[] options)
    {
        const long size = 24 * MiB;
        using var dir = new TempDir();
        var source = CreateRandom(dir["src.raw"], size, 21);
        await using var server = new EngineServer(dir);
        string? backing = null;
        if (backend == "file")
        {
            backing = dir["target.raw"];
            using (var stream = new FileStream(backing, FileMode.Create))
            {
                stream.SetLength(size);
            }

            server.Export("disk", server.OpenFile(backing));
        }
        else
        {
            server.Export("disk", server.Memory(size));
        }

        server.Listen();

        (await Tool.RunAsync("nbdcopy", [.. options, source, server.Uri("disk")], Tool.DefaultTimeout)).AssertSuccess();
        var output = dir["out.raw"];
        (await Tool.RunAsync("nbdcopy", [.. options, server.Uri("disk"), output], Tool.DefaultTimeout)).AssertSuccess();

        var expected = Sha256(source);
        Assert.Equal(expected, Sha256(output));
        if (backing is not null)
        {
            Assert.Equal(expected, Sha256(backing));
        }

        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task SparseExport_CopiedToFile_StaysSparse()
    {
        const long size = 64 * MiB;
        (long, int)[] data = [(0, 1 * MiB), (10 * MiB, 2 * MiB), (40 * MiB, 512 * KiB), (63 * MiB, 1 * MiB)];
        const long dataBytes = (1 + 2 + 1) * MiB + 512 * KiB;
        using var dir = new TempDir();
        var source = CreateSparse(dir["src.raw"], size, 31, data);
        var layout = ExpectedLayout(size, data);
        Assert.True(layout.SequenceEqual(SeekLayout(source)), "the filesystem did not keep the sparse layout");

        await using var server = new EngineServer(dir);
        server.Export("sparse", server.OpenFile(source, readOnly: true), readOnly: true).Listen();

        var output = dir["out.raw"];
        (await Tool.RunAsync("nbdcopy", server.Uri("sparse"), output)).AssertSuccess();

        Assert.Equal(Sha256(source), Sha256(output));
        Assert.Equal(size, new FileInfo(output).Length);
        var allocated = await AllocatedBytesAsync(output);
        Assert.True(allocated >= dataBytes && allocated <= dataBytes + 256 * KiB,
            $"destination has {allocated} bytes allocated, the source only {dataBytes} bytes of data: holes were not preserved " +
            $"(Engine's block status must report them)\ndestination layout:\n{Describe(SeekLayout(output))}");
        Assert.True(layout.SequenceEqual(SeekLayout(output)), $"destination layout:\n{Describe(SeekLayout(output))}\nexpected:\n{Describe(layout)}");
    }

    [Fact]
    public async Task ExportToExport_SameServer_IsByteExact_AndZeroesHoles()
    {
        const long size = 16 * MiB;
        (long, int)[] data = [(1 * MiB, 3 * MiB), (12 * MiB, 64 * KiB)];
        using var dir = new TempDir();
        var source = CreateSparse(dir["src.raw"], size, 41, data);

        // The destination starts full of other data: the source's holes must be zeroed (write-zeroes) over the wire.
        var target = CreateRandom(dir["dst.raw"], size, 42);
        await using var server = new EngineServer(dir);
        server.Export("src", server.OpenFile(source, readOnly: true), readOnly: true)
              .Export("dst", server.OpenFile(target))
              .Listen();

        (await Tool.RunAsync("nbdcopy", "--flush", server.Uri("src"), server.Uri("dst"))).AssertSuccess();

        Assert.Equal(Sha256(source), Sha256(target));
    }
}
