using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Tests.Repository;

public sealed class ConcurrencyTests
{
    [Fact]
    public async Task Guests_backing_up_at_once_with_shared_chunks_all_commit_and_verify()
    {
        using var repo = new TempRepository();
        var shared = Enumerable.Range(0, 4).Select(i => TempRepository.Compressible(TempRepository.SmallChunk, 100 + i)).ToArray();
        var time = new DateTimeOffset(2026, 11, 1, 6, 0, 0, TimeSpan.Zero);
        using var start = new Barrier(6);

        var backups = Enumerable.Range(0, 6).Select(guest => Task.Run(async () =>
        {
            start.SignalAndWait();
            await using var writer = repo.Repository.BeginSnapshot("vm", (100 + (guest % 3)).ToString(System.Globalization.CultureInfo.InvariantCulture), time);
            var digests = new ChunkDigest[shared.Length + 1];
            for (var i = 0; i < shared.Length; i++)
            {
                digests[i] = await repo.PutAsync(shared[(i + guest) % shared.Length]);
            }

            digests[^1] = await repo.PutAsync(TempRepository.Random(5000, guest));
            writer.AddDevice("scsi0", (shared.Length * (long)TempRepository.SmallChunk) + 5000, TempRepository.SmallChunk, digests, null);
            return (await writer.CommitAsync(CancellationToken.None)).Id;
        })).ToArray();
        var ids = await Task.WhenAll(backups);

        Assert.Equal(6, ids.Distinct().Count()); // two guests per vmid at the same second: the later takes the next second
        Assert.Equal(6, repo.Repository.ListSnapshots().Count);
        Assert.Equal(shared.Length + 6, repo.ChunkFiles().Length);
        var report = await repo.Repository.VerifyAsync(null, null, CancellationToken.None);
        Assert.True(report.IsClean);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(repo.Path, "tmp")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(repo.Path, "writers")));
    }

    [Fact]
    public async Task Failed_and_successful_writers_of_one_guest_at_once_never_trip_over_its_folder_coming_and_going()
    {
        // A failed first backup removes snapshots/vm/ID/ (rmdir, when it was the guest's only snapshot). Meanwhile other
        // writers of the guest create that folder and their own in it, and readers list it (backup_init, the
        // incremental query). Successful snapshots are deleted again at once, so the folder keeps emptying and
        // disappearing. Nobody may fail because the folder came or went between two of their steps.
        using var repo = new TempRepository();
        var time = new DateTimeOffset(2026, 11, 1, 6, 0, 0, TimeSpan.Zero);
        var data = TempRepository.Random(5000, 7);
        var digest = await repo.PutAsync(data);
        using var stop = new CancellationTokenSource();
        var listings = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                Assert.All(repo.Repository.ListSnapshots("vm", "102"), m => Assert.Equal("102", m.Vmid));
                Interlocked.Increment(ref listings);
            }
        })).ToArray();

        var committed = 0;
        var writers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            for (var round = 0; round < 150; round++)
            {
                SnapshotId? id = null;
                await using (var writer = repo.Repository.BeginSnapshot("vm", "102", time))
                {
                    if ((w + round) % 3 == 0)
                    {
                        writer.AddDevice("scsi0", data.Length, TempRepository.SmallChunk, [digest], null);
                        id = (await writer.CommitAsync(CancellationToken.None)).Id;
                    }

                    // Otherwise the backup failed: disposed without a commit.
                }

                if (id is { } done)
                {
                    repo.Repository.DeleteSnapshot(done);
                    Interlocked.Increment(ref committed);
                }
            }
        })).ToArray();

        try
        {
            await Task.WhenAll(writers);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(readers);
        }

        Assert.Equal(6 * 150 / 3, committed);
        Assert.True(listings > 0);
        Assert.Empty(repo.Repository.ListSnapshots("vm", "102"));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(repo.Path, "writers")));
    }

    [Fact]
    public async Task Processes_creating_one_repository_at_once_all_open_it()
    {
        var root = Directory.CreateTempSubdirectory("engine-repo-test-").FullName;
        try
        {
            var path = Path.Combine(root, "repo");
            using var start = new Barrier(4);
            var opens = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            {
                start.SignalAndWait();
                using var repository = BackupRepository.Open(path);
                return repository.ChunkSize;
            })).ToArray();

            Assert.All(await Task.WhenAll(opens), size => Assert.Equal(4 << 20, size));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
