using Engine.Interop.Tests.Infrastructure;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests;

/// <summary>nbdfuse (libnbd 1.14): the export as a file in a FUSE mount, read and written with O_DIRECT.</summary>
public sealed class NbdfuseTests
{
    private const long Size = 8 * MiB;

    [Fact]
    public async Task MountedExport_ReadAndWrittenWithODirect()
    {
        Assert.True(File.Exists("/dev/fuse"), "/dev/fuse is missing: nbdfuse needs the fuse kernel module (and the Debian package fuse3)");
        Tool.Require("fusermount3");
        using var dir = new TempDir();
        var backing = CreateRandom(dir["disk.raw"], Size, 81);
        var expected = File.ReadAllBytes(backing);
        await using var server = new EngineServer(dir);
        server.Export("", server.OpenFile(backing)).Listen();

        var mount = dir["m"];
        Directory.CreateDirectory(mount);
        var image = Path.Combine(mount, "nbd");
        var patch = RandomBytes(256 * KiB, 82);
        await File.WriteAllBytesAsync(dir["patch"], patch);

        await using (var fuse = Tool.Start("nbdfuse", [mount, server.Uri()]))
        {
            try
            {
                await fuse.WaitUntilAsync(() => File.Exists(image), TimeSpan.FromSeconds(20), $"{image} to appear");
                Assert.Equal(Size, new FileInfo(image).Length);

                var copy = dir["out.raw"];
                (await Tool.RunAsync("dd", $"if={image}", $"of={copy}", "bs=1M", "iflag=direct")).AssertSuccess();
                Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(expected)), Sha256(copy));

                // Write 256 KiB at 1 MiB through the mount, then read it back through the mount.
                (await Tool.RunAsync("dd", $"if={dir["patch"]}", $"of={image}", "bs=64k", "seek=16", "conv=notrunc,fsync", "oflag=direct")).AssertSuccess();
                var back = dir["back"];
                (await Tool.RunAsync("dd", $"if={image}", $"of={back}", "bs=64k", "skip=16", "count=4", "iflag=direct")).AssertSuccess();
                Assert.True(File.ReadAllBytes(back).AsSpan().SequenceEqual(patch), "data written through nbdfuse reads back differently");

                (await Tool.RunAsync("fusermount3", "-u", mount)).AssertSuccess();
                Assert.Equal(0, await fuse.WaitForExitAsync(TimeSpan.FromSeconds(20)));
            }
            finally
            {
                if (File.ReadAllText("/proc/mounts").Contains(mount, StringComparison.Ordinal))
                {
                    await Tool.RunAsync("fusermount3", "-u", "-z", mount);
                }
            }
        }

        patch.CopyTo(expected, 1 * MiB);
        Assert.True(File.ReadAllBytes(backing).AsSpan().SequenceEqual(expected), "backing file differs from the expected content after the FUSE write");
    }
}
