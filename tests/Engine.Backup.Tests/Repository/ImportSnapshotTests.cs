using Engine.Backup.Containers.Archive;
using Engine.Backup.Containers.Restore;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Tests.Repository;

/// <summary>
/// A container backup written into a staging repository that dedups against the main one read-only, then imported:
/// only missing chunks are staged, the imported snapshot restores exactly, and a staged chunk whose content is not
/// its name, or a chunk named by the catalog that nobody holds, stops the import without a snapshot.
/// </summary>
public sealed class ImportSnapshotTests : IDisposable
{
    private static readonly DateTimeOffset First = new(2026, 11, 26, 7, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Second = First.AddHours(1);
    private readonly TempDir _dir = new();
    private readonly TempRepository _main = new();

    [Fact]
    public async Task A_staged_backup_stores_only_new_chunks_and_imports_exactly()
    {
        var root = _dir["root"];
        await ContainerTree.BuildAsync(root);
        await BackupAsync(_main.Repository, root, First);
        await File.WriteAllBytesAsync(Path.Combine(root, "etc/new-file.bin"), ContainerTree.Random(300 << 10, 77));

        using (var staging = OpenStaging())
        {
            var staged = await BackupAsync(staging, root, Second);
            Assert.True(staged.Stats.BytesStored < 400 << 10, $"staging stored {staged.Stats.BytesStored} bytes: the parent's chunks must not be staged again");
        }

        var stagedChunkFiles = StagedChunkFiles().Length;
        Assert.InRange(stagedChunkFiles, 1, 8);

        var imported = await _main.Repository.ImportSnapshotAsync(_dir["staging"], new SnapshotId("ct", "120", Second), CancellationToken.None);
        Assert.Equal(new SnapshotId("ct", "120", Second), imported.Id);
        Assert.Equal(2, _main.Repository.ListSnapshots("ct", "120").Count);

        var restored = _dir["restored"];
        await using (var archive = ContainerArchive.Open(_main.Repository, imported.Id))
        {
            await ContainerDirectoryRestorer.RestoreAsync(archive, restored, CancellationToken.None);
        }

        await ContainerTree.AssertSameAsync(root, restored);
        var report = await _main.Repository.VerifyAsync(null, null, CancellationToken.None);
        Assert.True(report.IsClean, "verify after the import");
    }

    [Fact]
    public async Task A_staged_chunk_whose_content_is_not_its_name_is_refused()
    {
        var id = await StageTreeAsync();

        // A mapped root that wants to poison dedup: swap two chunk files' contents under their names.
        var files = StagedChunkFiles();
        Assert.True(files.Length >= 2);
        var first = await File.ReadAllBytesAsync(files[0]);
        await File.WriteAllBytesAsync(files[0], await File.ReadAllBytesAsync(files[1]));
        await File.WriteAllBytesAsync(files[1], first);

        var error = await Assert.ThrowsAsync<ChunkCorruptException>(() => _main.Repository.ImportSnapshotAsync(_dir["staging"], id, CancellationToken.None));
        Assert.True(error.Message.Contains(Path.GetFileName(files[0])[..16], StringComparison.Ordinal) || error.Message.Contains(Path.GetFileName(files[1])[..16], StringComparison.Ordinal),
            $"the error names a swapped chunk: {error.Message}");
        Assert.Empty(_main.Repository.ListSnapshots("ct", "120"));
    }

    [Fact]
    public async Task A_chunk_neither_side_holds_stops_the_import()
    {
        var id = await StageTreeAsync();

        var files = StagedChunkFiles();
        File.Delete(files[^1]);
        await Assert.ThrowsAsync<ChunkMissingException>(() => _main.Repository.ImportSnapshotAsync(_dir["staging"], id, CancellationToken.None));
        Assert.Empty(_main.Repository.ListSnapshots("ct", "120"));
    }

    public void Dispose()
    {
        _main.Dispose();
        _dir.Dispose();
    }

    /// <summary>A generated tree backed up into an empty staging repository; returns the staged snapshot.</summary>
    private async Task<SnapshotId> StageTreeAsync()
    {
        await ContainerTree.BuildAsync(_dir["root"]);
        using var staging = OpenStaging();
        return (await BackupAsync(staging, _dir["root"], Second)).Id;
    }

    private string[] StagedChunkFiles() =>
        Directory.GetFiles(Path.Combine(_dir["staging"], "chunks"), "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f).Length == 64).ToArray();

    private BackupRepository OpenStaging() =>
        BackupRepository.Open(_dir["staging"], new RepositoryOptions { ChunkSize = _main.Options.ChunkSize, ParentChunkDirectory = _main.Repository.LocalChunks.Directory });

    private static Task<SnapshotManifest> BackupAsync(BackupRepository repository, string root, DateTimeOffset time) =>
        ContainerBackupEngine.BackupAsync(repository, new ContainerBackupRequest
        {
            Vmid = "120",
            Directory = root,
            GuestConfig = "arch: amd64\nhostname: staged\n",
            Time = time,
        }, null, CancellationToken.None);
}
