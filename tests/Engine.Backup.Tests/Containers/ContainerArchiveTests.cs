using Engine.Backup.Containers;
using Engine.Backup.Containers.Archive;
using Engine.Backup.Containers.Chunking;
using Engine.Backup.Containers.Restore;
using Engine.Backup.Containers.Walking;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Tests.Repository;

namespace Engine.Backup.Tests.Containers;

/// <summary>
/// Backs up a generated root filesystem into a repository and restores it to a directory, compared with diff, stat,
/// getfattr, getfacl and du.
/// </summary>
public sealed class ContainerArchiveTests : IDisposable
{
    private static readonly DateTimeOffset Time = new(2026, 11, 26, 6, 0, 0, TimeSpan.Zero);
    private readonly TempDir _dir = new();
    private readonly TempRepository _repository = new();

    private string Root => _dir["root"];

    [Fact]
    public async Task Restore_recreates_the_tree_exactly()
    {
        await ContainerTree.BuildAsync(Root);
        var manifest = await BackupAsync("101", Root);

        Assert.Equal("ct", manifest.Type);
        var archive = Assert.IsType<ArchiveEntry>(manifest.Archive);
        Assert.True(archive.Files >= 15, $"{archive.Files} files");
        Assert.Equal(".", manifest.Extra["ct.sources"]);
        Assert.Equal(manifest.Stats.BytesRead, ContainerTree.BigFileLength + (3L * 64 << 10) + FilesBytes());
        Assert.True(File.Exists(Path.Combine(_repository.Path, "snapshots/ct/101", manifest.Id.TimeText, "archive.catalog")));

        var restored = _dir["restored"];
        await RestoreAsync(manifest.Id, restored);
        await ContainerTree.AssertSameAsync(Root, restored);

        // The sparse file kept its holes: 192 KiB of data in 8 MiB, and the same data ranges.
        Assert.Equal(8L << 20, new FileInfo(Path.Combine(restored, ContainerTree.SparseFile)).Length);
        var used = await ContainerTree.DiskUsageAsync(Path.Combine(restored, ContainerTree.SparseFile));
        Assert.InRange(used, 192 << 10, 512 << 10);
        Assert.Equal(ExtentsOf(Path.Combine(Root, ContainerTree.SparseFile)), ExtentsOf(Path.Combine(restored, ContainerTree.SparseFile)));
    }

    [Fact]
    public async Task The_archive_lists_entries_in_order_with_hard_links_to_the_first_name()
    {
        await ContainerTree.BuildAsync(Root);
        var manifest = await BackupAsync("102", Root);
        await using var archive = ContainerArchive.Open(_repository.Repository, manifest.Id);
        var entries = archive.Entries;
        Assert.Equal(".", entries[0].Path);
        var seen = new HashSet<string> { "." };
        foreach (var entry in entries.Skip(1))
        {
            var parent = entry.Path.Contains('/', StringComparison.Ordinal) ? entry.Path[..entry.Path.LastIndexOf('/')] : ".";
            Assert.Contains(parent, seen);
            seen.Add(entry.Path);
        }

        var hardB = entries.Single(e => e.Path == "usr/bin/hard-b");
        Assert.Equal(ContainerEntryKind.HardLink, hardB.Kind);
        Assert.Equal("usr/bin/hard-a", hardB.LinkTarget);
        Assert.Equal(ContainerEntryKind.HardLink, entries.Single(e => e.Path == "usr/lib/hard-c").Kind);
        var device = entries.Single(e => e.Path == "dev/loop7");
        Assert.Equal((ContainerEntryKind.BlockDevice, 7, 7), (device.Kind, device.DeviceMajor, device.DeviceMinor));
        Assert.Equal("/nonexistent/target", entries.Single(e => e.Path == "dangling").LinkTarget);
        Assert.Equal(0b100_111_101_101, entries.Single(e => e.Path == "usr/bin/su").Mode);
        Assert.Equal(0b001_111_111_111, entries.Single(e => e.Path == "tmp").Mode);
        Assert.Equal(1_577_836_800_000_000_001L, entries.Single(e => e.Path == "etc/passwd").ModificationTimeNs);

        // Reading through the reader: holes as zeros, data as written, hard links as their file.
        var sparse = entries.Single(e => e.Path == ContainerTree.SparseFile);
        Assert.NotNull(sparse.DataExtents);
        var bytes = new byte[sparse.Size];
        Assert.Equal(bytes.Length, await ReadAllAsync(archive, sparse, bytes));
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(Root, ContainerTree.SparseFile)), bytes);
        var big = entries.Single(e => e.Path == ContainerTree.BigFile);
        var content = new byte[big.Size];
        await ReadAllAsync(archive, big, content);
        Assert.Equal(ContainerTree.Random(ContainerTree.BigFileLength, 42), content);

        // Backwards, so every read-ahead is wasted and dropped.
        var backwards = new byte[big.Size];
        for (var end = backwards.Length; end > 0; end -= 300_007)
        {
            var start = Math.Max(0, end - 300_007);
            Assert.Equal(end - start, await archive.ReadFileAsync(big, start, backwards.AsMemory(start, end - start), CancellationToken.None));
        }

        Assert.Equal(content, backwards);
        var hard = new byte[64];
        Assert.Equal(5, await archive.ReadFileAsync(hardB, 0, hard, CancellationToken.None));
    }

    [Fact]
    public async Task Excludes_follow_vzdump()
    {
        await ContainerTree.BuildAsync(Root);
        var manifest = await BackupAsync("103", Root, excludes: ["/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid", "*.log", "cache/"]);
        var restored = _dir["restored"];
        await RestoreAsync(manifest.Id, restored);

        Assert.True(Directory.Exists(Path.Combine(restored, "tmp")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(restored, "tmp")));
        Assert.Equal("1777", (await Tool.RunAsync("stat", "-c", "%a", Path.Combine(restored, "tmp"))).AssertSuccess().Stdout.Trim());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(restored, "var/tmp")));
        Assert.False(File.Exists(Path.Combine(restored, "var/run/sshd.pid")));
        Assert.False(File.Exists(Path.Combine(restored, "var/run/sub/deep.pid")));
        Assert.True(File.Exists(Path.Combine(restored, "var/run/keep.txt")));
        Assert.False(File.Exists(Path.Combine(restored, "var/log/syslog.log")));
        Assert.False(File.Exists(Path.Combine(restored, "var/log/nested/app.log")));
        Assert.True(File.Exists(Path.Combine(restored, "var/log/dmesg")));
        Assert.False(Directory.Exists(Path.Combine(restored, "var/cache")));
        Assert.True(File.Exists(Path.Combine(restored, "var/lib/cache")), "a file named cache is not a directory");

        // Everything else is as it was: delete the excluded files from the source and compare whole trees.
        foreach (var gone in (string[])["tmp/junk", "tmp/.X11-unix", "var/tmp/t1", "var/run/sshd.pid", "var/run/sub/deep.pid", "var/log/syslog.log", "var/log/nested/app.log", "var/cache"])
        {
            var path = Path.Combine(Root, gone);
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
        }

        // Deleting changed the parents' mtimes: put back what the backup saw.
        (await Tool.RunAsync("sh", "-c", $"cd '{Root}' && touch -d '2022-07-08 09:10:11.555555555' tmp var var/tmp var/run var/run/sub var/log var/log/nested")).AssertSuccess();
        await ContainerTree.AssertSameAsync(Root, restored);
    }

    [Fact]
    public async Task Unchanged_trees_store_nothing_new_and_a_changed_byte_stores_about_one_chunk()
    {
        await ContainerTree.BuildAsync(Root);
        var first = await BackupAsync("104", Root);
        Assert.True(first.Stats.ChunksNew > 0);

        var second = await BackupAsync("104", Root, time: Time.AddHours(1));
        Assert.Equal(0, second.Stats.ChunksNew);
        Assert.Equal(0, second.Stats.BytesStored);
        Assert.Equal(first.Stats.BytesRead, second.Stats.BytesReused + ZeroBytes(second));
        Assert.Equal(first.Archive!.CatalogChecksum, second.Archive!.CatalogChecksum);

        // Another container with the same files dedups against the first.
        var other = await BackupAsync("205", Root);
        Assert.Equal(0, other.Stats.ChunksNew);

        // One byte in the middle of the 5 MiB file: one chunk (two if the change moved a cut) is new.
        await using (var stream = new FileStream(Path.Combine(Root, ContainerTree.BigFile), FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = 2_500_000;
            var old = stream.ReadByte();
            stream.Position = 2_500_000;
            stream.WriteByte((byte)(old ^ 0xFF));
        }

        var third = await BackupAsync("104", Root, time: Time.AddHours(2));
        Assert.InRange(third.Stats.ChunksNew, 1, 2);
        Assert.InRange(third.Stats.BytesNew, 1, 2L * FastCdc.DefaultMaxSize);
        Assert.True(third.Stats.BytesStored <= 2L * FastCdc.DefaultMaxSize + 1024, $"stored {third.Stats.BytesStored}");

        var restored = _dir["restored"];
        await RestoreAsync(third.Id, restored);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(Root, ContainerTree.BigFile)), await File.ReadAllBytesAsync(Path.Combine(restored, ContainerTree.BigFile)));
    }

    [Fact]
    public async Task Small_files_share_chunks_and_a_new_one_stores_about_one_chunk()
    {
        Directory.CreateDirectory(Path.Combine(Root, "etc"));
        for (var i = 0; i < 1000; i++)
        {
            await File.WriteAllBytesAsync(Path.Combine(Root, "etc", $"file{i:D4}"), ContainerTree.Random(3000 + i, seed: i));
        }

        var first = await BackupAsync("112", Root);
        Assert.InRange(first.Stats.ChunksNew, 5, 40); // about 3.5 MB in 256 KiB chunks, not 1000 chunk files

        await File.WriteAllBytesAsync(Path.Combine(Root, "etc", "file0500-new"), ContainerTree.Random(5000, seed: 9999));
        var second = await BackupAsync("112", Root, time: Time.AddHours(1));
        Assert.InRange(second.Stats.ChunksNew, 1, 3);
        Assert.True(second.Stats.BytesNew <= 3L * FastCdc.DefaultMaxSize);

        var restored = _dir["restored"];
        await RestoreAsync(second.Id, restored);
        await ContainerTree.AssertNoDiffAsync(Root, restored);
        Assert.Equal(await ContainerTree.StatListingAsync(Root), await ContainerTree.StatListingAsync(restored));
    }

    [Fact]
    public async Task Mount_points_are_archived_when_listed_as_sources_and_left_empty_otherwise()
    {
        Directory.CreateDirectory(Path.Combine(Root, "mp/data"));
        Directory.CreateDirectory(Path.Combine(Root, "mnt/other"));
        await File.WriteAllTextAsync(Path.Combine(Root, "etc.txt"), "root fs\n");
        await MountTmpfsAsync(Path.Combine(Root, "mp/data"));
        await MountTmpfsAsync(Path.Combine(Root, "mnt/other"));
        try
        {
            await File.WriteAllTextAsync(Path.Combine(Root, "mp/data/db.sqlite"), "data volume\n");
            Directory.CreateDirectory(Path.Combine(Root, "mp/data/sub"));
            await File.WriteAllTextAsync(Path.Combine(Root, "mnt/other/elsewhere"), "not a source\n");

            var withMount = await BackupAsync("106", Root, sources: [".", "./mp/data"]);
            var rootOnly = await BackupAsync("107", Root, sources: ["."]);
            var mountOnly = await BackupAsync("108", Root, sources: ["./mp/data"]);

            var paths = await PathsAsync(withMount.Id);
            Assert.Contains("mp/data/db.sqlite", paths);
            Assert.Contains("mp/data/sub", paths);
            Assert.Contains("mnt/other", paths);
            Assert.DoesNotContain("mnt/other/elsewhere", paths);
            Assert.Equal(". ./mp/data", withMount.Extra["ct.sources"]);

            var rootPaths = await PathsAsync(rootOnly.Id);
            Assert.Contains("mp/data", rootPaths);
            Assert.DoesNotContain("mp/data/db.sqlite", rootPaths);
            Assert.Contains("etc.txt", rootPaths);

            Assert.Equal([".", "mp", "mp/data", "mp/data/db.sqlite", "mp/data/sub"], await PathsAsync(mountOnly.Id));

            var restored = _dir["restored"];
            await RestoreAsync(withMount.Id, restored);
            Assert.Equal("data volume\n", await File.ReadAllTextAsync(Path.Combine(restored, "mp/data/db.sqlite")));
        }
        finally
        {
            await Tool.RunAsync("umount", Path.Combine(Root, "mnt/other"));
            await Tool.RunAsync("umount", Path.Combine(Root, "mp/data"));
        }
    }

    [Fact]
    public async Task Gc_keeps_archive_chunks_until_the_snapshot_is_deleted()
    {
        await ContainerTree.BuildAsync(Root);
        var manifest = await BackupAsync("109", Root);
        var chunks = _repository.ChunkFiles();
        Assert.True(chunks.Length >= 10, $"{chunks.Length} chunk files");

        _repository.AgeAllChunks(TimeSpan.FromDays(2));
        var kept = await _repository.Repository.CollectGarbageAsync(CancellationToken.None);
        Assert.Equal(0, kept.ChunksRemoved);
        Assert.Equal(chunks.Length, kept.ChunksReferenced);
        var restored = _dir["restored"];
        await RestoreAsync(manifest.Id, restored);
        await ContainerTree.AssertNoDiffAsync(Root, restored);

        _repository.Repository.DeleteSnapshot(manifest.Id);
        var swept = await _repository.Repository.CollectGarbageAsync(CancellationToken.None);
        Assert.Equal(chunks.Length, swept.ChunksRemoved);
        Assert.Empty(_repository.ChunkFiles());
    }

    [Fact]
    public async Task Verify_names_a_damaged_archive_chunk_and_a_damaged_catalog()
    {
        await ContainerTree.BuildAsync(Root);
        var manifest = await BackupAsync("110", Root);
        var clean = await _repository.Repository.VerifyAsync(manifest.Id, null, CancellationToken.None);
        Assert.Empty(clean.BadChunks);
        Assert.Equal(_repository.ChunkFiles().Length, clean.ChunksChecked);

        var victim = _repository.ChunkFiles()[0];
        var bytes = await File.ReadAllBytesAsync(victim);
        bytes[^1] ^= 0x55;
        await File.WriteAllBytesAsync(victim, bytes);
        var report = await _repository.Repository.VerifyAsync(manifest.Id, null, CancellationToken.None);
        var bad = Assert.Single(report.BadChunks);
        Assert.Equal(victim, bad.Path);
        Assert.Contains(manifest.Id, bad.Snapshots);

        var catalog = Path.Combine(_repository.Path, "snapshots/ct/110", manifest.Id.TimeText, "archive.catalog");
        var catalogBytes = await File.ReadAllBytesAsync(catalog);
        catalogBytes[100] ^= 1;
        await File.WriteAllBytesAsync(catalog, catalogBytes);
        var broken = await _repository.Repository.VerifyAsync(null, null, CancellationToken.None);
        Assert.Contains(broken.BadSnapshots, p => p.Snapshot == manifest.Id && p.Reason.Contains("catalog", StringComparison.Ordinal));
        Assert.Throws<RepositoryCorruptException>(() => ContainerArchive.Open(_repository.Repository, manifest.Id));
        await Assert.ThrowsAsync<RepositoryCorruptException>(() => _repository.Repository.CollectGarbageAsync(CancellationToken.None));
    }

    [Fact]
    public async Task The_bandwidth_limit_paces_reads()
    {
        Directory.CreateDirectory(Root);
        await File.WriteAllBytesAsync(Path.Combine(Root, "data.bin"), ContainerTree.Random(6 << 20, seed: 7));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var manifest = await ContainerBackupEngine.BackupAsync(_repository.Repository, new ContainerBackupRequest
        {
            Vmid = "113", Directory = Root, BandwidthLimit = 8 << 20, Time = Time,
        }, null, CancellationToken.None);
        // 6 MiB at 8 MiB/s with a quarter-second burst: at least half a second.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.45), $"took {clock.Elapsed.TotalSeconds:0.00} s");
        Assert.Equal(6 << 20, manifest.Stats.BytesRead);
    }

    [Fact]
    public async Task A_name_that_is_not_utf8_is_reported_not_silently_lost()
    {
        Directory.CreateDirectory(Root);
        await File.WriteAllTextAsync(Path.Combine(Root, "fine"), "ok");
        (await Tool.RunAsync("sh", "-c", $"touch '{Root}'/\"$(printf 'bad\\377name')\"")).AssertSuccess();
        var manifest = await BackupAsync("114", Root);
        Assert.StartsWith("1 names not valid UTF-8 left out: bad", manifest.Extra["ct.skipped-names"], StringComparison.Ordinal);
        Assert.Equal([".", "fine"], await PathsAsync(manifest.Id));
    }

    [Fact]
    public async Task A_chunk_file_copied_over_another_fails_the_file_read_instead_of_returning_other_data()
    {
        Directory.CreateDirectory(Root);
        var content = TempRepository.Random(6 << 20, 21);
        await File.WriteAllBytesAsync(Path.Combine(Root, "big.bin"), content);
        var manifest = await BackupAsync("115", Root);
        var chunks = _repository.ChunkFiles();
        Assert.True(chunks.Length >= 2, $"{chunks.Length} chunk(s)");
        var victim = ChunkDigest.Parse(Path.GetFileName(chunks[0]));
        _repository.CopyChunkOver(ChunkDigest.Parse(Path.GetFileName(chunks[1])), victim); // both well-formed; a catalog knows only the SHA-256

        await using var archive = ContainerArchive.Open(_repository.Repository, manifest.Id);
        var error = await Assert.ThrowsAsync<ChunkCorruptException>(() => ReadAllAsync(archive, archive.Entries.Single(e => e.Path == "big.bin"), new byte[content.Length]));

        Assert.Equal(victim, error.Digest);
        Assert.Equal(ChunkCheck.DigestMismatch, error.Check);
    }

    [Fact]
    public async Task A_failed_backup_leaves_no_snapshot()
    {
        Directory.CreateDirectory(Root);
        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => BackupAsync("111", Root, sources: [".", "./mp/missing"]));
        Assert.Empty(_repository.Repository.ListSnapshots("ct"));
        Assert.False(Directory.Exists(Path.Combine(_repository.Path, "snapshots/ct/111")));
    }

    public void Dispose()
    {
        _repository.Dispose();
        _dir.Dispose();
    }

    private static long FilesBytes() =>
        "root:x:0:0:root:/root:/bin/bash\n".Length + "root:*:19000:0:99999:7:::\n".Length + "setuid\n".Length + "setgid\n".Length +
        "ping\n".Length + 1 + 1 + 3 + 4 + 3 + 3 + 3 + "not a log".Length + 3 + "file named cache".Length + 3 + "hello alice\n".Length +
        "shared\n".Length + "hard\n".Length + "bonjour\n".Length + "party\n".Length + "nihongo\n".Length;

    private static long ZeroBytes(SnapshotManifest manifest) => manifest.Stats.ZeroChunks == 0 ? 0 : throw new InvalidOperationException("the tree has no zero chunks");

    private static List<(long, long)> ExtentsOf(string path)
    {
        var walker = new ContainerTreeWalker(Path.GetDirectoryName(path)!, ["."], null);
        var entry = walker.Walk(CancellationToken.None).Single(e => e.Entry.Path == Path.GetFileName(path)).Entry;
        return entry.DataExtents!.Select(e => (e.Offset, e.Length)).ToList();
    }

    private static async Task<long> ReadAllAsync(ContainerArchive archive, ContainerEntry entry, byte[] into)
    {
        long total = 0;
        while (total < into.Length)
        {
            // Odd-sized reads cross chunk and extent boundaries.
            var read = await archive.ReadFileAsync(entry, total, into.AsMemory((int)total, (int)Math.Min(into.Length - total, 100_003)), CancellationToken.None);
            Assert.True(read > 0);
            total += read;
        }

        return total;
    }

    private static async Task MountTmpfsAsync(string path) =>
        (await Tool.RunAsync("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", path)).AssertSuccess();

    private async Task<SnapshotManifest> BackupAsync(string vmid, string directory, IReadOnlyList<string>? sources = null,
        IReadOnlyList<string>? excludes = null, DateTimeOffset? time = null) =>
        await ContainerBackupEngine.BackupAsync(_repository.Repository, new ContainerBackupRequest
        {
            Vmid = vmid,
            Directory = directory,
            Sources = sources ?? ["."],
            ExcludePatterns = excludes ?? [],
            GuestConfig = "arch: amd64\nhostname: ct\n",
            Time = time ?? Time,
        }, null, CancellationToken.None);

    private async Task RestoreAsync(SnapshotId id, string target)
    {
        await using var archive = ContainerArchive.Open(_repository.Repository, id);
        var summary = await ContainerDirectoryRestorer.RestoreAsync(archive, target, CancellationToken.None);
        Assert.Equal((archive.Entries.Count, 0L), (summary.Entries, summary.XattrsSkipped));
    }

    private async Task<List<string>> PathsAsync(SnapshotId id)
    {
        await using var archive = ContainerArchive.Open(_repository.Repository, id);
        return archive.Entries.Select(e => e.Path).ToList();
    }
}
