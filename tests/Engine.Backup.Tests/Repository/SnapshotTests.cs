using System.Text.Json;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Tests.Repository;

public sealed class SnapshotTests
{
    private static readonly DateTimeOffset Monday = new(2026, 11, 23, 6, 30, 0, TimeSpan.Zero);

    [Fact]
    public async Task Committed_snapshot_round_trips_manifest_and_indexes()
    {
        using var repo = new TempRepository();
        var a = TempRepository.Random(TempRepository.SmallChunk, 1);
        var b = TempRepository.Compressible(TempRepository.SmallChunk, 2);
        var digestA = await repo.PutAsync(a);
        var digestB = await repo.PutAsync(b);
        var parent = new SnapshotId("vm", "100", Monday.AddDays(-1));

        await using (var writer = repo.Repository.BeginSnapshot("vm", "100", Monday))
        {
            writer.AddDevice("scsi0", (2L * TempRepository.SmallChunk) + 5, TempRepository.SmallChunk, [digestA, ChunkDigest.Zero, digestB], "bitmap-1");
            writer.AddDevice("efidisk0", 4096, TempRepository.SmallChunk, [ChunkDigest.Zero], null);
            writer.Manifest.GuestConfig = "memory: 512\n";
            writer.Manifest.FirewallConfig = "[OPTIONS]\nenable: 1\n";
            writer.Manifest.Parent = parent;
            writer.Manifest.Stats.BytesRead = 42;
            writer.Manifest.Extra["tool"] = "test";
            Assert.Empty(repo.Repository.ListSnapshots()); // invisible until committed
            await writer.CommitAsync(CancellationToken.None);
        }

        repo.Reopen();
        var id = new SnapshotId("vm", "100", Monday);
        Assert.Equal("vm/100/2026-11-23T06:30:00Z", id.ToString());
        var listed = Assert.Single(repo.Repository.ListSnapshots());
        Assert.Equal(id, listed.Id);
        var manifest = repo.Repository.ReadManifest(id);
        Assert.Equal("memory: 512\n", manifest.GuestConfig);
        Assert.Equal("[OPTIONS]\nenable: 1\n", manifest.FirewallConfig);
        Assert.Equal(parent, manifest.Parent);
        Assert.Equal(42, manifest.Stats.BytesRead);
        Assert.Equal("test", manifest.Extra["tool"]);
        Assert.Equal(["scsi0", "efidisk0"], manifest.Devices.Select(d => d.Name));
        Assert.Equal("bitmap-1", manifest.Devices[0].Bitmap);

        var index = repo.Repository.ReadIndex(id, "scsi0");
        Assert.Equal((2L * TempRepository.SmallChunk) + 5, index.Size);
        Assert.Equal(3, index.ChunkCount);
        Assert.Equal([digestA, ChunkDigest.Zero, digestB], index.Digests.ToArray());
        Assert.Equal(digestB, index[2]);
        Assert.Equal(id, repo.Repository.FindLatest("vm", "100")!.Id);
        Assert.Null(repo.Repository.FindLatest("ct", "100"));

        // The manifest is plain JSON with the documented names.
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(repo.Path, "snapshots/vm/100/2026-11-23T06:30:00Z/manifest.json")));
        Assert.Equal("vm/100/2026-11-23T06:30:00Z", json.RootElement.GetProperty("id").GetString());
        Assert.Equal("vm/100/2026-11-22T06:30:00Z", json.RootElement.GetProperty("parent").GetString());
        Assert.Equal(42, json.RootElement.GetProperty("stats").GetProperty("bytesRead").GetInt64());
        Assert.Equal("scsi0.index", json.RootElement.GetProperty("devices")[0].GetProperty("index").GetString());
    }

    [Fact]
    public async Task Snapshots_in_the_same_second_take_the_next_free_second()
    {
        using var repo = new TempRepository();
        await using var first = repo.Repository.BeginSnapshot("vm", "100", Monday);
        await using var second = repo.Repository.BeginSnapshot("vm", "100", Monday.AddMilliseconds(300));
        await using var other = repo.Repository.BeginSnapshot("ct", "100", Monday);

        Assert.Equal(Monday, first.Id.Time);
        Assert.Equal(Monday.AddSeconds(1), second.Id.Time);
        Assert.Equal(Monday, other.Id.Time);
        await second.CommitAsync(CancellationToken.None);
        await first.CommitAsync(CancellationToken.None);

        Assert.Equal([first.Id, second.Id], repo.Repository.ListSnapshots().Select(m => m.Id));
        Assert.Equal(2, repo.Repository.ListSnapshots("vm").Count);
        Assert.Empty(repo.Repository.ListSnapshots("ct"));
    }

    [Fact]
    public async Task Disposing_without_commit_aborts_and_leaves_nothing()
    {
        using var repo = new TempRepository();
        var digest = await repo.PutAsync(TempRepository.Random(1000, 3));
        await using (var writer = repo.Repository.BeginSnapshot("vm", "7", Monday))
        {
            writer.AddDevice("scsi0", 1000, TempRepository.SmallChunk, [digest], null);
        }

        Assert.Empty(repo.Repository.ListSnapshots());
        Assert.False(Directory.Exists(Path.Combine(repo.Path, "snapshots/vm/7"))); // not even an empty folder for the guest
        Assert.Empty(Directory.GetFiles(Path.Combine(repo.Path, "writers")));
        Assert.Throws<SnapshotNotFoundException>(() => repo.Repository.ReadManifest(new SnapshotId("vm", "7", Monday)));
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("")]
    [InlineData("disk 0")]
    public async Task Unsafe_device_names_are_refused(string name)
    {
        using var repo = new TempRepository();
        await using var writer = repo.Repository.BeginSnapshot("vm", "1", Monday);

        Assert.Throws<ArgumentException>(() => writer.AddDevice(name, 0, TempRepository.SmallChunk, [], null));
    }

    [Theory]
    [InlineData("qemu", "100")]
    [InlineData("vm", "../100")]
    [InlineData("vm", "")]
    [InlineData("vm", "1a")]
    public void Bad_types_and_vmids_are_refused(string type, string vmid)
    {
        using var repo = new TempRepository();

        Assert.Throws<ArgumentException>(() => repo.Repository.BeginSnapshot(type, vmid));
        Assert.Throws<ArgumentException>(() => repo.Repository.ReadManifest(new SnapshotId(type, vmid, Monday)));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(repo.Path, "snapshots")));
    }

    [Theory]
    [InlineData("vm/100/2026-11-26T06:30:00Z", true)]
    [InlineData("ct/5/2026-01-01T00:00:00Z", true)]
    [InlineData("vm/100/2026-11-26T06:30:00", false)]
    [InlineData("vm/x/2026-11-26T06:30:00Z", false)]
    [InlineData("lxc/100/2026-11-26T06:30:00Z", false)]
    [InlineData("vm/100", false)]
    public void Snapshot_ids_parse_strictly_and_round_trip(string text, bool valid)
    {
        Assert.Equal(valid, SnapshotId.TryParse(text, out var id));
        if (valid)
        {
            Assert.Equal(text, id.ToString());
            Assert.Equal(id, SnapshotId.Parse(text));
        }
        else
        {
            Assert.Throws<FormatException>(() => SnapshotId.Parse(text));
        }
    }

    [Fact]
    public void Snapshot_id_times_are_utc_whole_seconds_however_they_are_made()
    {
        var local = new DateTimeOffset(2026, 11, 26, 8, 30, 0, 123, TimeSpan.FromHours(2));
        var id = new SnapshotId("vm", "100", local);
        var moved = id with { Time = local.AddSeconds(1) };

        Assert.Equal("vm/100/2026-11-26T06:30:00Z", id.ToString());
        Assert.Equal(TimeSpan.Zero, id.Time.Offset);
        Assert.Equal("vm/100/2026-11-26T06:30:01Z", moved.ToString());
        Assert.Equal(moved, SnapshotId.Parse(moved.ToString()));
    }

    [Fact]
    public async Task Device_whose_chunk_is_missing_is_refused_with_the_chunk_named()
    {
        using var repo = new TempRepository();
        var absent = ChunkDigest.Compute([9, 9, 9]);
        await using var writer = repo.Repository.BeginSnapshot("vm", "1", Monday);

        var error = Assert.Throws<ChunkMissingException>(() => writer.AddDevice("scsi0", 10, TempRepository.SmallChunk, [absent], null));

        Assert.Equal(absent, error.Digest);
        Assert.Contains(absent.ToString(), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Digest_count_must_match_the_device_size()
    {
        using var repo = new TempRepository();
        await using var writer = repo.Repository.BeginSnapshot("vm", "1", Monday);

        Assert.Throws<ArgumentException>(() => writer.AddDevice("scsi0", TempRepository.SmallChunk + 1L, TempRepository.SmallChunk, [ChunkDigest.Zero], null));
    }

    [Fact]
    public async Task Deleted_snapshot_disappears_and_its_id_is_unknown()
    {
        using var repo = new TempRepository();
        var manifest = await repo.BackupAsync("100", Monday, [TempRepository.Random(100, 1)]);

        repo.Repository.DeleteSnapshot(manifest.Id);

        Assert.Empty(repo.Repository.ListSnapshots());
        Assert.Throws<SnapshotNotFoundException>(() => repo.Repository.DeleteSnapshot(manifest.Id));
        Assert.Throws<SnapshotNotFoundException>(() => repo.Repository.ReadIndex(manifest.Id, "scsi0"));
    }

    [Fact]
    public void Foreign_directory_and_missing_repository_are_refused_with_the_path()
    {
        var root = Directory.CreateTempSubdirectory("engine-repo-test-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "photo.jpg"), "not a repository");
            var foreign = Assert.ThrowsAny<RepositoryException>(() => BackupRepository.Open(root));
            Assert.Contains(root, foreign.Message, StringComparison.Ordinal);

            var missing = Path.Combine(root, "nothing");
            var notFound = Assert.Throws<RepositoryNotFoundException>(() => BackupRepository.Open(missing, create: false));
            Assert.Contains(missing, notFound.Message, StringComparison.Ordinal);
            Assert.False(Directory.Exists(missing));

            using (BackupRepository.Open(missing))
            {
            }

            using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(missing, "engine-repository.json")));
            Assert.Equal(1, config.RootElement.GetProperty("format").GetInt32());
            Assert.Equal(4 << 20, config.RootElement.GetProperty("chunkSize").GetInt32());
            Assert.Equal(3, config.RootElement.GetProperty("compressionLevel").GetInt32());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
