using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Interop.Tests.Client;
using Engine.Interop.Tests.Infrastructure;
using Engine.Nbd.Client;
using static Engine.Interop.Tests.Backup.BackupTestKit;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Backup;

/// <summary>
/// Backups that fail half-way: nbdkit's error filter firing mid-backup, and the backup process killed at random
/// points. Nothing half-made may become visible, the repository must verify, and the next backup must be right.
/// </summary>
public sealed class BackupFailureTests
{
    private const long Size = 64L * MiB;

    private static Task<ServerProcess> NbdkitAsync(TempDir dir, string socket, params string[] args) =>
        ServerProcess.StartUnixAsync("nbdkit", dir[socket], ["-U", dir[socket], "-f", .. args]);

    [Fact]
    public async Task ErrorFilterFiresMidBackup_NoSnapshot_RepositoryVerifies_NextBackupIsRight()
    {
        using var dir = new TempDir();
        var trigger = dir["fail-now"];
        using var repository = BackupRepository.Open(dir["repo"]);
        await using (var server = await NbdkitAsync(dir, "k.sock", "--filter=error", "--filter=delay", "pattern", $"{Size}",
            "error-pread=EIO", "error-pread-rate=100%", $"error-pread-file={trigger}", "rdelay=40ms"))
        {
            var backup = BackupNbdAsync(repository, "400", server.Uri(), bitmap: null);

            // Fail every read from the moment the first chunk is in the store.
            await WaitForAsync(() => Directory.Exists(dir["repo/chunks"]) && Directory.EnumerateFiles(dir["repo/chunks"], "*", SearchOption.AllDirectories).Any(f => Path.GetFileName(f).Length == 64), "a first chunk");
            await File.WriteAllTextAsync(trigger, "");
            var error = await ClientInterop.FaultWithinAsync(backup, TimeSpan.FromSeconds(60), "backup with failing reads");
            var serverError = Assert.IsType<NbdServerErrorException>(error, exactMatch: false);
            Assert.Equal(5, serverError.Errno);

            Assert.Empty(repository.ListSnapshots());
            await AssertCleanAsync(repository);

            File.Delete(trigger);
            var retry = await BackupNbdAsync(repository, "400", server.Uri(), bitmap: null);
            Assert.Equal(Size, retry.Stats.BytesRead);
            Assert.True(retry.Stats.ChunksReused > 0, "chunks stored before the failure are reused, not stored again");
            await SnapshotRestoreMatchesAsync(dir, repository, retry.Id, server.Uri());
        }
    }

    [Fact]
    public async Task BackupProcessKilledAtRandomPoints_RepositoryStaysConsistent()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];

        // qemu-nbd, not nbdkit: nbdkit 1.32 aborts (raw_send_socket assertion) when a client dies mid-request. The
        // bandwidth limit stretches each backup over ~3 s so the kills land in the middle of it.
        var image = CreateRandom(dir["disk.raw"], Size, 411);
        await using var server = await ExportAsync(dir, image, format: "raw", bitmap: false);
        var uri = server.Uri("drive-scsi0");
        var random = new Random(20261126);
        var committed = 0;
        var killedMidway = 0;
        for (var round = 0; round < 3; round++)
        {
            await using var backup = Tool.Start("/usr/bin/dotnet", [ClientInterop.EngineDll, "backup", "--repo", repo, "--vmid", "410", "--disk", $"drive-scsi0={uri}", "--bwlimit", "24M", "--json"]);
            await Task.Delay(TimeSpan.FromMilliseconds(600 + random.Next(1800)));
            var exitedBeforeKill = backup.HasExited;
            if (!exitedBeforeKill)
            {
                Signals.Send(backup.Pid, 9);
            }

            await backup.WaitForExitAsync(TimeSpan.FromSeconds(20));
            using var repository = BackupRepository.Open(repo);
            var snapshots = repository.ListSnapshots().Count;

            // A process killed after its commit but before it exited leaves a complete snapshot; anything else none.
            Assert.True(snapshots == committed + 1 || (snapshots == committed && !exitedBeforeKill), $"round {round}: {snapshots} snapshots after {committed} committed");
            killedMidway += snapshots == committed ? 1 : 0;
            committed = snapshots;
            await AssertCleanAsync(repository);
        }

        Assert.True(killedMidway > 0, "no backup was killed before its commit: the test proved nothing");
        using (var repository = BackupRepository.Open(repo))
        {
            var after = await BackupNbdAsync(repository, "410", uri, bitmap: null);
            await SnapshotRestoreMatchesAsync(dir, repository, after.Id, uri);
            await repository.CollectGarbageAsync(CancellationToken.None);
            await AssertCleanAsync(repository);
        }
    }

    private static async Task SnapshotRestoreMatchesAsync(TempDir dir, BackupRepository repository, SnapshotId id, string uri)
    {
        var restored = dir["restored-" + id.Time.ToUnixTimeSeconds() + ".raw"];
        await Engine.Backup.Restore.SnapshotRestorer.RestoreAsync(repository, id, "drive-scsi0", restored);
        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", restored, uri)).AssertSuccess();
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }
}
