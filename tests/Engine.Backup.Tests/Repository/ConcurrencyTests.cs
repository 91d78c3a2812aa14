using Engine.Backup.Repository;

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
