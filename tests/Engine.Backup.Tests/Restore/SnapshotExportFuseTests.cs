using System.Text.Json;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Restore;
using Engine.Backup.Tests.Repository;
using Engine.Backup.VmBackup;
using Engine.Blocks.Native;
using Engine.Sources;

namespace Engine.Backup.Tests.Restore;

/// <summary>
/// <c>engine export --fuse</c> as PVE's qemu-img restore path uses it: the FUSE file and the NBD export read
/// byte-exact, show the snapshot's zero chunks as holes (<c>qemu-img map</c>, <c>lseek SEEK_DATA/SEEK_HOLE</c>), pass
/// PVE's checks, and leave no mount behind after a dispose, a SIGTERM or a crash.
/// </summary>
public sealed class SnapshotExportFuseTests
{
    private const int Chunk = TempRepository.SmallChunk;
    private const int Chunks = 48;
    private const string Device = "drive-scsi0";

    // Zero chunks: 5..7, 20..29 and the last one; the rest random.
    private static readonly (int First, int Count)[] ZeroRuns = [(5, 3), (20, 10), (Chunks - 1, 1)];

    private static long DataBytes => (long)(Chunks - ZeroRuns.Sum(r => r.Count)) * Chunk;

    [Fact]
    public async Task FuseFileAndNbdExport_ByteExact_HolesVisible_PveChecksPass_DisposeUnmounts()
    {
        Assert.True(File.Exists("/dev/fuse"), "/dev/fuse is missing: engine export --fuse needs the fuse kernel module (and the Debian package fuse3)");
        using var repo = new TempRepository();
        var (source, snapshot) = await BackupAsync(repo);
        var fuse = Path.Combine(repo.Root, "fuse");
        string file;
        string mountPoint;
        await using (var export = await SnapshotExport.StartAsync(repo.Repository, snapshot, Path.Combine(repo.Root, "s.sock"), fuse))
        {
            file = export.Files[Device];
            mountPoint = Path.GetDirectoryName(file)!;
            Assert.Equal(Path.Combine(fuse, Device, "disk.raw"), file);
            Assert.Contains(mountPoint, MountPoints());
            var uri = export.Uris[Device];

            (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", source, file)).AssertSuccess();
            (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", source, uri)).AssertSuccess();

            // qemu-img sees the holes through both: the FUSE file by lseek, the NBD export by block status.
            Assert.Equal(DataBytes, await MappedDataBytesAsync(file));
            Assert.Equal(DataBytes, await MappedDataBytesAsync(uri));

            using (var handle = File.OpenHandle(file))
            {
                Assert.Equal(5L * Chunk, LibC.LSeek(handle, 0, Fuse.SEEK_HOLE));
                Assert.Equal(8L * Chunk, LibC.LSeek(handle, 5L * Chunk, Fuse.SEEK_DATA));
                Assert.Equal((6L * Chunk) + 17, LibC.LSeek(handle, (6L * Chunk) + 17, Fuse.SEEK_HOLE));
                Assert.Equal((9L * Chunk) + 1, LibC.LSeek(handle, (9L * Chunk) + 1, Fuse.SEEK_DATA));
                Assert.Equal(30L * Chunk, LibC.LSeek(handle, 21L * Chunk, Fuse.SEEK_DATA));
                Assert.Equal(-1, LibC.LSeek(handle, (long)(Chunks - 1) * Chunk, Fuse.SEEK_DATA));
                Assert.Equal(6, LibC.LastErrno); // ENXIO: only a hole up to the end
            }

            // PVE: `qemu-img info -f raw` (a raw file, no backing), then `qemu-img convert -p -n` into an existing target.
            var info = (await Tool.RunAsync("qemu-img", "info", "-f", "raw", "--output=json", file)).AssertSuccess();
            using (var json = JsonDocument.Parse(info.Stdout))
            {
                Assert.Equal((long)Chunks * Chunk, json.RootElement.GetProperty("virtual-size").GetInt64());
                Assert.Equal(DataBytes, json.RootElement.GetProperty("actual-size").GetInt64());
                Assert.False(json.RootElement.TryGetProperty("backing-filename", out _), info.Stdout);
            }

            var target = Path.Combine(repo.Root, "target.raw");
            (await Tool.RunAsync("qemu-img", "create", "-f", "raw", target, $"{Chunks * Chunk}")).AssertSuccess();
            (await Tool.RunAsync("qemu-img", "convert", "-p", "-n", "-f", "raw", file, "-O", "raw", target)).AssertSuccess();
            (await Tool.RunAsync("cmp", source, target)).AssertSuccess();
        }

        Assert.DoesNotContain(mountPoint, MountPoints());
        Assert.False(Directory.Exists(mountPoint), $"{mountPoint} is left behind");
    }

    [Fact]
    public async Task Cli_StaleMountOfAKilledExport_DoesNotBlockTheNext_SigtermLeavesNoMount()
    {
        Assert.True(File.Exists("/dev/fuse"), "/dev/fuse is missing: engine export --fuse needs the fuse kernel module (and the Debian package fuse3)");
        using var repo = new TempRepository();
        var (source, snapshot) = await BackupAsync(repo);
        repo.Repository.Dispose();
        var fuse = Path.Combine(repo.Root, "fuse");
        var mountPoint = Path.Combine(fuse, Device);
        var file = Path.Combine(mountPoint, "disk.raw");
        string[] arguments = ["export", "--repo", repo.Path, "--snapshot", snapshot.ToString(), "--socket", Path.Combine(repo.Root, "s.sock"), "--fuse", fuse];

        await using (var crashed = EngineCli.Start(arguments))
        {
            await crashed.WaitUntilAsync(() => crashed.Stdout.Contains("disk.raw", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the FUSE path on stdout");
            Assert.Equal(0, LibC.Kill(crashed.Pid, 9)); // SIGKILL: no unmount, as in a crash
            await crashed.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.Contains(mountPoint, MountPoints());
        Assert.ThrowsAny<IOException>(() => File.ReadAllBytes(file)); // ENOTCONN: the stale mount

        await using (var export = EngineCli.Start(arguments))
        {
            try
            {
                await export.WaitUntilAsync(() => export.Stdout.Contains("disk.raw", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the FUSE path on stdout");
                (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", source, file)).AssertSuccess();
            }
            finally
            {
                if (!export.HasExited)
                {
                    Assert.Equal(0, LibC.Kill(export.Pid, LibC.SIGTERM));
                }
            }

            Assert.True(await export.WaitForExitAsync(TimeSpan.FromSeconds(30)) == 0, export.Describe());
        }

        Assert.DoesNotContain(mountPoint, MountPoints());
    }

    private static async Task<(string Source, SnapshotId Snapshot)> BackupAsync(TempRepository repo)
    {
        var content = TempRepository.Random(Chunks * Chunk, 1501);
        foreach (var (first, count) in ZeroRuns)
        {
            Array.Clear(content, first * Chunk, count * Chunk);
        }

        var source = Path.Combine(repo.Root, "disk.raw");
        await File.WriteAllBytesAsync(source, content);
        await using var volume = FileVolumeSource.Open(Device, source, null, null, false);
        var manifest = await new VmBackupEngine(repo.Repository).BackupAsync(new VmBackupRequest { Vmid = "100", Volumes = [volume] }, new VmBackupOptions());
        Assert.Equal(ZeroRuns.Sum(r => r.Count), manifest.Stats.ZeroChunks);
        return (source, manifest.Id);
    }

    // The bytes `qemu-img map` reports as data.
    private static async Task<long> MappedDataBytesAsync(string path)
    {
        var map = (await Tool.RunAsync("qemu-img", "map", "-f", "raw", "--output=json", path)).AssertSuccess();
        using var json = JsonDocument.Parse(map.Stdout);
        return json.RootElement.EnumerateArray().Where(e => e.GetProperty("data").GetBoolean()).Sum(e => e.GetProperty("length").GetInt64());
    }

    // The fifth field of /proc/self/mountinfo; the temporary paths hold no characters it escapes.
    private static List<string> MountPoints() =>
        [.. File.ReadLines("/proc/self/mountinfo").Select(line => line.Split(' ')[4])];
}
