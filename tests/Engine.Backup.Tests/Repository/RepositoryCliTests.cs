using System.Text.Json;
using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Tests.Repository;

/// <summary>The contract of <c>engine snapshots|verify|prune|forget|gc</c>, run as a separate process on a real repository.</summary>
public sealed class RepositoryCliTests
{
    private static readonly DateTimeOffset Day1 = new(2026, 11, 1, 6, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Snapshots_prints_a_table_and_the_manifests_as_json()
    {
        using var repo = new TempRepository();
        await repo.BackupAsync("100", Day1, [TempRepository.Random(1000, 1), null, null]);
        await repo.BackupAsync("200", Day1.AddDays(1), [TempRepository.Random(1000, 2)], [null]);

        var table = await EngineCli.RunAsync("snapshots", "--repo", repo.Path);
        var json = await EngineCli.RunAsync("snapshots", "--repo", repo.Path, "--json");
        var filtered = await EngineCli.RunAsync("snapshots", "--repo", repo.Path, "--vmid", "200", "--json");

        Assert.True(table.ExitCode == 0, table.ToString());
        var lines = table.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("SNAPSHOT", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("vm/100/2026-11-01T06:00:00Z", lines[1], StringComparison.Ordinal);
        Assert.Contains("scsi0 (192 KiB)", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("vm/200/2026-11-02T06:00:00Z", lines[2], StringComparison.Ordinal);
        Assert.Contains("scsi0 (64 KiB), scsi1 (64 KiB)", lines[2], StringComparison.Ordinal);
        Assert.Contains("128 KiB", lines[2], StringComparison.Ordinal);

        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = JsonDocument.Parse(json.Stdout);
        Assert.Equal(["vm/100/2026-11-01T06:00:00Z", "vm/200/2026-11-02T06:00:00Z"], doc.RootElement.EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.Equal(3 * TempRepository.SmallChunk, doc.RootElement[0].GetProperty("devices")[0].GetProperty("size").GetInt64());
        Assert.Equal("memory: 512\nname: guest100\n", doc.RootElement[0].GetProperty("guest_config").GetString());
        using var only200 = JsonDocument.Parse(filtered.Stdout);
        Assert.Equal(1, only200.RootElement.GetArrayLength());
    }

    [Fact]
    public async Task Verify_exits_0_when_clean_and_1_naming_the_bad_chunk_file_digest_and_snapshots()
    {
        using var repo = new TempRepository();
        var shared = TempRepository.Compressible(TempRepository.SmallChunk, 3);
        var first = await repo.BackupAsync("100", Day1, [shared]);
        var second = await repo.BackupAsync("100", Day1.AddDays(1), [shared, TempRepository.Random(100, 4)]);

        var clean = await EngineCli.RunAsync("verify", "--repo", repo.Path);
        Assert.True(clean.ExitCode == 0, clean.ToString());
        Assert.Contains("verified 2 snapshot(s), 2 chunk(s)", clean.Stdout, StringComparison.Ordinal);

        var digest = ChunkDigest.Compute(shared);
        var file = repo.Chunks.PathOf(digest);
        ChunkStoreTests.FlipByte(file, 50);
        var bad = await EngineCli.RunAsync("verify", "--repo", repo.Path);
        var badJson = await EngineCli.RunAsync("verify", "--repo", repo.Path, "--json", "--quick");
        var one = await EngineCli.RunAsync("verify", "--repo", repo.Path, "--snapshot", first.Id.ToString());

        Assert.True(bad.ExitCode == 1, bad.ToString());
        Assert.Contains(file, bad.Stdout, StringComparison.Ordinal);
        Assert.Contains(digest.ToString(), bad.Stdout, StringComparison.Ordinal);
        Assert.Contains($"used by: {first.Id}, {second.Id}", bad.Stdout, StringComparison.Ordinal);

        Assert.True(badJson.ExitCode == 1, badJson.ToString());
        using var doc = JsonDocument.Parse(badJson.Stdout);
        var chunk = Assert.Single(doc.RootElement.GetProperty("bad_chunks").EnumerateArray());
        Assert.Equal(digest.ToString(), chunk.GetProperty("digest").GetString());
        Assert.Equal(file, chunk.GetProperty("path").GetString());
        Assert.Equal("ChecksumMismatch", chunk.GetProperty("check").GetString());
        Assert.Equal([first.Id.ToString(), second.Id.ToString()], chunk.GetProperty("snapshots").EnumerateArray().Select(s => s.GetString()));
        Assert.False(doc.RootElement.GetProperty("rehashed").GetBoolean());

        Assert.True(one.ExitCode == 1, one.ToString());
        Assert.Contains($"used by: {first.Id}", one.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_exit_codes_for_missing_repository_unknown_snapshot_and_bad_id()
    {
        using var repo = new TempRepository();

        var noRepo = await EngineCli.RunAsync("verify", "--repo", Path.Combine(repo.Root, "absent"));
        var noSnapshot = await EngineCli.RunAsync("verify", "--repo", repo.Path, "--snapshot", "vm/1/2026-01-01T00:00:00Z");
        var badId = await EngineCli.RunAsync("verify", "--repo", repo.Path, "--snapshot", "vm/../etc");

        Assert.True(noRepo.ExitCode == 66, noRepo.ToString());
        Assert.Contains(Path.Combine(repo.Root, "absent"), noRepo.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(repo.Root, "absent")));
        Assert.True(noSnapshot.ExitCode == 66, noSnapshot.ToString());
        Assert.Contains("vm/1/2026-01-01T00:00:00Z", noSnapshot.Stderr, StringComparison.Ordinal);
        Assert.True(badId.ExitCode == 64, badId.ToString());
    }

    [Fact]
    public async Task Prune_dry_run_reports_and_then_prune_removes()
    {
        using var repo = new TempRepository();
        await repo.EmptySnapshotAsync("100", "2026-01-01T10:00:00Z");
        await repo.EmptySnapshotAsync("100", "2026-01-01T12:00:00Z");
        await repo.EmptySnapshotAsync("100", "2026-01-02T10:00:00Z");
        await repo.EmptySnapshotAsync("200", "2026-01-02T10:00:00Z");

        var dry = await EngineCli.RunAsync("prune", "--repo", repo.Path, "--vmid", "100", "--keep-daily", "2", "--dry-run", "--json");
        Assert.True(dry.ExitCode == 0, dry.ToString());
        using (var doc = JsonDocument.Parse(dry.Stdout))
        {
            Assert.True(doc.RootElement.GetProperty("dry_run").GetBoolean());
            Assert.Equal(1, doc.RootElement.GetProperty("removed").GetInt32());
            var removed = doc.RootElement.GetProperty("decisions").EnumerateArray().Where(d => !d.GetProperty("keep").GetBoolean()).Select(d => d.GetProperty("snapshot").GetString());
            Assert.Equal(["vm/100/2026-01-01T10:00:00Z"], removed);
        }

        Assert.Equal(4, repo.Repository.ListSnapshots().Count);

        var real = await EngineCli.RunAsync("prune", "--repo", repo.Path, "--keep-last", "1");
        Assert.True(real.ExitCode == 0, real.ToString());
        Assert.Contains("remove vm/100/2026-01-01T10:00:00Z", real.Stdout, StringComparison.Ordinal);
        Assert.Contains("keep   vm/100/2026-01-02T10:00:00Z (last)", real.Stdout, StringComparison.Ordinal);
        Assert.Equal(["vm/100/2026-01-02T10:00:00Z", "vm/200/2026-01-02T10:00:00Z"], repo.Repository.ListSnapshots().Select(m => m.Id.ToString()));

        var badType = await EngineCli.RunAsync("prune", "--repo", repo.Path, "--type", "lxc", "--keep-last", "1");
        Assert.True(badType.ExitCode != 0 && badType.ExitCode != 66, badType.ToString());
    }

    [Fact]
    public async Task Forget_removes_one_snapshot_leaves_its_chunks_to_gc_and_names_what_it_cannot_find()
    {
        using var repo = new TempRepository();
        var gone = TempRepository.Random(4000, 7);
        var old = await repo.BackupAsync("100", Day1, [gone]);
        var kept = await repo.BackupAsync("100", Day1.AddDays(1), [TempRepository.Random(4000, 8)]);
        var chunk = repo.Chunks.PathOf(ChunkDigest.Compute(gone));

        var forget = await EngineCli.RunAsync("forget", "--repo", repo.Path, old.Id.ToString(), "--json");
        var again = await EngineCli.RunAsync("forget", "--repo", repo.Path, old.Id.ToString());
        var badId = await EngineCli.RunAsync("forget", "--repo", repo.Path, "vm/100/../../etc");
        var noRepo = await EngineCli.RunAsync("forget", "--repo", Path.Combine(repo.Root, "absent"), kept.Id.ToString());

        Assert.True(forget.ExitCode == 0, forget.ToString());
        using (var doc = JsonDocument.Parse(forget.Stdout))
        {
            Assert.Equal(old.Id.ToString(), doc.RootElement.GetProperty("id").GetString());
        }

        Assert.Equal([kept.Id.ToString()], repo.Repository.ListSnapshots().Select(m => m.Id.ToString()));
        Assert.True(File.Exists(chunk), "forget must leave chunks to gc");
        Assert.True(again.ExitCode == 66, again.ToString());
        Assert.Contains(old.Id.ToString(), again.Stderr, StringComparison.Ordinal);
        Assert.True(badId.ExitCode == 64, badId.ToString());
        Assert.Contains("vm/100/../../etc", badId.Stderr, StringComparison.Ordinal);
        Assert.True(noRepo.ExitCode == 66, noRepo.ToString());

        repo.AgeAllChunks(TimeSpan.FromHours(1));
        var gc = await EngineCli.RunAsync("gc", "--repo", repo.Path);
        Assert.True(gc.ExitCode == 0, gc.ToString());
        Assert.False(File.Exists(chunk), "gc frees the forgotten snapshot's chunk");
        Assert.Single(repo.ChunkFiles());
    }

    [Fact]
    public async Task Gc_reports_chunks_removed_and_bytes_freed()
    {
        using var repo = new TempRepository();
        var gone = TempRepository.Random(4000, 5);
        var old = await repo.BackupAsync("100", Day1, [gone]);
        await repo.BackupAsync("100", Day1.AddDays(1), [TempRepository.Random(4000, 6)]);
        var freed = new FileInfo(repo.Chunks.PathOf(ChunkDigest.Compute(gone))).Length;
        repo.Repository.DeleteSnapshot(old.Id);
        repo.AgeAllChunks(TimeSpan.FromHours(1)); // older than the CLI's default five-minute grace

        var json = await EngineCli.RunAsync("gc", "--repo", repo.Path, "--json");
        var text = await EngineCli.RunAsync("gc", "--repo", repo.Path);

        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = JsonDocument.Parse(json.Stdout);
        Assert.Equal(1, doc.RootElement.GetProperty("chunks_removed").GetInt64());
        Assert.Equal(freed, doc.RootElement.GetProperty("bytes_freed").GetInt64());
        Assert.Equal(1, doc.RootElement.GetProperty("chunks_referenced").GetInt64());
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.StartsWith("gc: 0 chunk(s) removed, 0 B freed", text.Stdout, StringComparison.Ordinal);
        Assert.Single(repo.ChunkFiles());
    }
}
