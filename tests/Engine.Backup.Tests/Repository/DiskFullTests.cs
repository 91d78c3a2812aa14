using System.Text.Json;

namespace Engine.Backup.Tests.Repository;

/// <summary>A repository on a real small filesystem (a 12 MiB tmpfs) that a backup fills up.</summary>
public sealed class DiskFullTests
{
    private const int MiB = 1 << 20;

    [Fact]
    public async Task A_backup_that_fills_the_disk_names_the_path_leaves_no_folder_and_gc_frees_its_chunks_for_the_next()
    {
        using var dir = new TempDir();
        var mountPoint = dir["fs"];
        Directory.CreateDirectory(mountPoint);
        (await Tool.RunAsync("mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", mountPoint)).AssertSuccess();
        try
        {
            var repo = Path.Combine(mountPoint, "repo");
            var big = dir["big.raw"];
            var small = dir["small.raw"];
            File.WriteAllBytes(big, TempRepository.Random(16 * MiB, 1)); // four incompressible 4 MiB chunks: only two fit
            File.WriteAllBytes(small, TempRepository.Random(8 * MiB, 2)); // fits only once the failed backup's chunks are gone

            var failed = await EngineCli.RunAsync("backup", "--repo", repo, "--vmid", "100", "--disk", $"scsi0={big}", "--workers", "1");

            failed.AssertFailure(1, "No space left on device");
            Assert.Contains(Path.Combine(repo, "tmp", "chunk-"), failed.Stderr, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Path.Combine(repo, "snapshots/vm/100")), "the failed backup left its guest folder");
            Assert.NotEmpty(ChunkFiles(repo));

            // No writer runs: the dead backup's chunks go now, not after the 5-minute grace.
            var gc = (await EngineCli.RunAsync("gc", "--repo", repo, "--json")).AssertSuccess();
            using (var report = JsonDocument.Parse(gc.Stdout))
            {
                Assert.True(report.RootElement.GetProperty("chunks_removed").GetInt64() > 0, gc.ToString());
            }

            Assert.Empty(ChunkFiles(repo));
            (await EngineCli.RunAsync("backup", "--repo", repo, "--vmid", "100", "--disk", $"scsi0={small}", "--workers", "1")).AssertSuccess();
        }
        finally
        {
            (await Tool.RunAsync("umount", mountPoint)).AssertSuccess();
        }
    }

    private static string[] ChunkFiles(string repo) =>
        Directory.GetFiles(Path.Combine(repo, "chunks"), "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".lock", StringComparison.Ordinal)).ToArray();
}
