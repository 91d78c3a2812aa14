using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Provider.Api;
using Engine.Provider.Repository;
using Engine.Provider.Tests.Infrastructure;
using Engine.Sources;

namespace Engine.Provider.Tests;

/// <summary>
/// The <c>file-handle</c> mechanism through the C# API (fds do not cross the process boundary yet): the snapshot
/// access is an nbdfuse file opened O_DIRECT and <c>next-dirty-region</c> comes from <c>nbdinfo --map</c> of the
/// bitmap, as PVE derives it. The export is read-only here, so the file is opened O_RDONLY rather than PVE's O_RDWR.
/// </summary>
public sealed class FileHandleTests
{
    private const long MiB = 1L << 20;

    [Fact]
    public async Task FullThenIncremental_FromNbdfuseFiles_RestoreExactly()
    {
        using var dir = new TempDir();
        var disk = await VmDisk.CreateAsync(dir, "drive-scsi0", 8 * MiB, 6, (0, (int)(2 * MiB)), (5 * MiB, (int)MiB));
        var logs = new List<string>();
        using var repository = BackupRepository.Open(dir["repo"]);
        await using var provider = new EngineRepositoryProvider(repository, (level, message) => logs.Add($"{level}: {message}"),
            new EngineRepositoryProviderOptions { VmMechanism = BackupMechanisms.FileHandle });

        var first = await BackupAsync(provider, dir, disk, DateTimeOffset.FromUnixTimeSeconds(1764180000));
        Assert.Null(repository.ReadManifest(first).Parent);
        Assert.Equal(8 * MiB, repository.ReadManifest(first).Stats.BytesRead); // a FUSE file reports no holes: a full read is whole

        await disk.WriteAsync("write -P 0x77 6M 64k", "write -P 0x78 7M 64k");
        var v2 = await disk.CaptureAsync("v2");
        var second = await BackupAsync(provider, dir, disk, DateTimeOffset.FromUnixTimeSeconds(1764180100));
        var manifest = repository.ReadManifest(second);
        Assert.Equal(first, manifest.Parent);
        Assert.Equal(128L << 10, manifest.Stats.BytesRead);

        var volname = second.ToString();
        try
        {
            var sizes = await provider.RestoreVmInitAsync(volname, CancellationToken.None);
            Assert.Equal(8 * MiB, sizes["drive-scsi0"]);
            var path = provider.RestoreVmVolumeInit(volname, "drive-scsi0");
            (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", v2, path)).AssertSuccess();
            provider.RestoreVmVolumeCleanup(volname, "drive-scsi0");
        }
        finally
        {
            await provider.RestoreVmCleanupAsync(volname);
        }
    }

    private static async Task<SnapshotId> BackupAsync(EngineRepositoryProvider provider, TempDir dir, VmDisk disk, DateTimeOffset start)
    {
        provider.JobInit(start);
        var archive = provider.BackupInit("300", GuestType.Qemu, start);
        Assert.Equal(BackupMechanisms.FileHandle, provider.BackupGetMechanism("300", GuestType.Qemu));
        var mode = provider.BackupVmQueryIncremental("300", new Dictionary<string, long> { [disk.Device] = disk.Size })[disk.Device];
        if (mode == BackupMechanisms.IncrementalNew)
        {
            await disk.RecreateBitmapAsync();
        }

        await using (var export = await disk.ExportAsync())
        {
            var uri = $"nbd+unix:///{disk.Device}?socket={export.Socket}";
            var map = (await Tool.RunAsync("nbdinfo", "--map=qemu:dirty-bitmap:" + VmDisk.Bitmap, uri)).AssertSuccess().Stdout;
            await using var fuse = await NbdFuseFile.MountAsync(dir["fuse-" + Guid.NewGuid().ToString("N")[..8]], uri, disk.Size);
            using var handle = DirectOpen.ReadOnly(fuse.Path);
            Assert.True(DirectOpen.IsDirect(handle), "the snapshot access must be opened O_DIRECT, as PVE does");
            var volume = new BackupVmVolume
            {
                Size = disk.Size,
                FileHandle = handle,
                NextDirtyRegion = DirtyMapReader.ReadAsync(new StringReader(map), "next-dirty-region", disk.Size),
                BitmapMode = mode == BackupMechanisms.IncrementalUse ? BitmapMode.Reuse : BitmapMode.New,
                BitmapName = VmDisk.Bitmap,
            };
            await provider.BackupVmAsync("300", "memory: 256\n", new Dictionary<string, BackupVmVolume> { [disk.Device] = volume }, new BackupVmInfo(), CancellationToken.None);
        }

        await disk.CommitBitmapAsync();
        Assert.Equal(disk.Size, (await provider.BackupCleanupAsync("300", GuestType.Qemu, success: true, error: null, CancellationToken.None)).ArchiveSize);
        provider.JobCleanup();
        return SnapshotId.Parse(archive);
    }
}
