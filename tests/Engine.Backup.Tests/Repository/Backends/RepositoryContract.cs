using Engine.Backup.Containers.Archive;
using Engine.Backup.Containers.Restore;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Restore;
using Engine.Backup.VmBackup;
using Engine.Sources;

namespace Engine.Backup.Tests.Repository.Backends;

/// <summary>
/// One repository suite for every place a repository lives (issue 13): a local directory and an object store must
/// behave alike through the <see cref="BackupRepository"/> facade. Disks are backed up from files, restored through
/// <see cref="SnapshotRestorer"/> and compared with <c>qemu-img compare</c>.
/// </summary>
public abstract class RepositoryContract : IDisposable
{
    /// <summary>The repository's chunk size (4 MiB, <c>engine init</c>'s default on both backends).</summary>
    protected const int Chunk = 4 << 20;
    private const int DiskChunks = 6;
    private static readonly CancellationToken None = CancellationToken.None;

    private readonly TempDir _dir = new();

    /// <summary>A fresh, empty repository with a garbage-collection grace of zero.</summary>
    protected abstract Task<BackupRepository> CreateRepositoryAsync();

    /// <summary>Opens the repository <see cref="CreateRepositoryAsync"/> made again, as another process would.</summary>
    protected abstract Task<BackupRepository> ReopenAsync(BackupRepository repository);

    /// <summary>Deletes one chunk behind the repository's back.</summary>
    protected abstract Task DeleteChunkAsync(BackupRepository repository, ChunkDigest digest);

    /// <summary>Deletes a snapshot's manifest behind the repository's back, leaving its indexes.</summary>
    protected abstract Task DeleteManifestAsync(BackupRepository repository, SnapshotId id);

    /// <summary>Whether the chunk is stored.</summary>
    protected abstract Task<bool> HasChunkAsync(BackupRepository repository, ChunkDigest digest);

    private string WriteDisk(string name, int seed)
    {
        var bytes = TempRepository.Random(DiskChunks * Chunk, seed);
        Array.Clear(bytes, 2 * Chunk, Chunk); // one all-zero chunk
        var path = _dir[name];
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static async Task<SnapshotManifest> BackupAsync(BackupRepository repository, string path, string vmid = "300", string? bitmap = null, IEnumerable<SourceRange>? dirty = null)
    {
        await using var source = FileVolumeSource.Open("drive-scsi0", path, bitmap, dirty is null ? null : ToAsync(dirty), discard: false);
        return await new VmBackupEngine(repository).BackupAsync(new VmBackupRequest { Vmid = vmid, Volumes = [source] }, new VmBackupOptions { Parallelism = 4 });
    }

    private static async IAsyncEnumerable<SourceRange> ToAsync(IEnumerable<SourceRange> ranges)
    {
        await Task.Yield();
        foreach (var range in ranges)
        {
            yield return range;
        }
    }

    private async Task AssertRestoresAsync(BackupRepository repository, SnapshotId id, string expected)
    {
        var target = _dir["restore-" + Guid.NewGuid().ToString("N")[..8] + ".raw"];
        await SnapshotRestorer.RestoreAsync(repository, id, "drive-scsi0", target);
        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", expected, target)).AssertSuccess();
        File.Delete(target);
    }

    [Fact]
    public async Task Full_then_incremental_restore_byte_exact_and_list_in_order()
    {
        using var repository = await CreateRepositoryAsync();
        var disk = WriteDisk("disk.raw", 1);
        var first = _dir["first.raw"];
        File.Copy(disk, first);
        var full = await BackupAsync(repository, disk, bitmap: "b0", dirty: [new SourceRange(0, DiskChunks * Chunk)]);
        Assert.Equal(1, full.Stats.ZeroChunks);

        // 5 % of the disk changes, partly inside chunks: the unchanged rest of a chunk comes from the first snapshot.
        SourceRange[] dirty = [new(4096, 8192), new((4L * Chunk) + 100, 4096)];
        await using (var file = File.OpenWrite(disk))
        {
            foreach (var range in dirty)
            {
                file.Position = range.Offset;
                await file.WriteAsync(TempRepository.Random((int)range.Length, (int)range.Offset));
            }
        }

        var incremental = await BackupAsync(repository, disk, bitmap: "b0", dirty: dirty);
        Assert.Equal(full.Id, incremental.Parent);
        Assert.Equal(dirty.Sum(d => d.Length), incremental.Stats.BytesRead);

        using var reopened = await ReopenAsync(repository);
        Assert.Equal([full.Id, incremental.Id], reopened.ListSnapshots("vm", "300").Select(m => m.Id));
        Assert.Equal(incremental.Id, reopened.FindLatest("vm", "300")!.Id);
        await AssertRestoresAsync(reopened, full.Id, first);
        await AssertRestoresAsync(reopened, incremental.Id, disk);
    }

    [Fact]
    public async Task Container_backup_restores_the_tree_exactly_and_verifies()
    {
        using var repository = await CreateRepositoryAsync();
        var root = _dir["root"];
        await ContainerTree.BuildAsync(root);
        var manifest = await ContainerBackupEngine.BackupAsync(repository, new ContainerBackupRequest
        {
            Vmid = "310",
            Directory = root,
            Sources = ["."],
            ExcludePatterns = [],
            GuestConfig = "arch: amd64\nhostname: ct\n",
        }, null, None);

        using var reopened = await ReopenAsync(repository);
        Assert.Equal([manifest.Id], reopened.ListSnapshots("ct").Select(m => m.Id));
        var restored = _dir["restored"];
        await using (var archive = ContainerArchive.Open(reopened, manifest.Id))
        {
            await ContainerDirectoryRestorer.RestoreAsync(archive, restored, None);
        }

        await ContainerTree.AssertSameAsync(root, restored);
        var report = await reopened.VerifyAsync(manifest.Id, null, None, rehash: true);
        Assert.Empty(report.BadChunks);
        Assert.Empty(report.BadSnapshots);
        Assert.True(report.ChunksChecked > 0);
    }

    [Fact]
    public async Task Verify_quick_and_full_pass_then_name_a_deleted_chunk_and_its_snapshot()
    {
        using var repository = await CreateRepositoryAsync();
        var snapshot = await BackupAsync(repository, WriteDisk("disk.raw", 2));

        foreach (var rehash in (bool[])[false, true])
        {
            var report = await repository.VerifyAsync(null, null, None, rehash);
            Assert.Empty(report.BadChunks);
            Assert.Empty(report.BadSnapshots);
            Assert.Equal(DiskChunks - 1, report.ChunksChecked);
            Assert.True(report.BytesChecked > 0);
        }

        var victim = repository.ReadIndex(snapshot.Id, "drive-scsi0")[3];
        await DeleteChunkAsync(repository, victim);
        foreach (var rehash in (bool[])[false, true])
        {
            var report = await repository.VerifyAsync(snapshot.Id, null, None, rehash);
            var problem = Assert.Single(report.BadChunks);
            Assert.Equal(victim, problem.Digest);
            Assert.Equal(ChunkCheck.Missing, problem.Check);
            Assert.Equal([snapshot.Id], problem.Snapshots);
            Assert.Contains(victim.ToString(), problem.Path, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Gc_keeps_referenced_chunks_and_drops_unreferenced_ones()
    {
        using var repository = await CreateRepositoryAsync();
        var goneDisk = WriteDisk("gone.raw", 3);
        var keptDisk = WriteDisk("kept.raw", 4);
        var gone = await BackupAsync(repository, goneDisk, vmid: "301");
        var kept = await BackupAsync(repository, keptDisk, vmid: "302");
        var goneChunks = repository.ReadIndex(gone.Id, "drive-scsi0").Digests.ToArray().Where(d => !d.IsZero).ToArray();
        var keptChunks = repository.ReadIndex(kept.Id, "drive-scsi0").Digests.ToArray().Where(d => !d.IsZero).ToArray();
        repository.DeleteSnapshot(gone.Id);
        await Task.Delay(1100); // object stores stamp whole seconds: the chunks must be older than the collection

        var report = await repository.CollectGarbageAsync(None);

        Assert.Equal(1, report.Snapshots);
        Assert.Equal(goneChunks.Length, report.ChunksRemoved);
        foreach (var digest in goneChunks)
        {
            Assert.False(await HasChunkAsync(repository, digest), $"unreferenced chunk {digest} survived");
        }

        foreach (var digest in keptChunks)
        {
            Assert.True(await HasChunkAsync(repository, digest), $"referenced chunk {digest} was removed");
        }

        using var reopened = await ReopenAsync(repository);
        await AssertRestoresAsync(reopened, kept.Id, keptDisk);
        Assert.Empty((await reopened.VerifyAsync(null, null, None, rehash: true)).BadChunks);
    }

    [Fact]
    public async Task A_snapshot_whose_manifest_was_not_written_is_invisible()
    {
        using var repository = await CreateRepositoryAsync();
        var disk = WriteDisk("disk.raw", 5);
        var committed = await BackupAsync(repository, disk);
        await DeleteManifestAsync(repository, committed.Id);

        // And a writer that died before its commit: its chunks are stored, its manifest never was.
        var crashed = repository.BeginSnapshot("vm", "300");
        var data = TempRepository.Random(Chunk, 6);
        var digest = ChunkDigest.Compute(data);
        await repository.Chunks.PutAsync(digest, data, None);
        crashed.AddDevice("drive-scsi0", Chunk, Chunk, [digest], null);
        crashed.SimulateCrash();

        using var reopened = await ReopenAsync(repository);
        Assert.Empty(reopened.ListSnapshots());
        Assert.Null(reopened.FindLatest("vm", "300"));
        Assert.Throws<SnapshotNotFoundException>(() => reopened.ReadManifest(committed.Id));
        Assert.Throws<SnapshotNotFoundException>(() => reopened.ReadManifest(crashed.Id));
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => SnapshotRestorer.RestoreAsync(reopened, committed.Id, "drive-scsi0", _dir["never.raw"]));
        Assert.False(File.Exists(_dir["never.raw"]));
    }

    public void Dispose()
    {
        Cleanup();
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Removes what the subclass made besides the repositories it handed out.</summary>
    protected virtual void Cleanup()
    {
    }
}
