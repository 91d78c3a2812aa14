using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text.Json;
using Engine.Backup.Containers;
using Engine.Backup.Containers.Archive;
using Engine.Backup.Containers.Restore;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Tests.Repository;

namespace Engine.Backup.Tests.Containers;

/// <summary>
/// Metadata change detection: a second backup takes unchanged files' chunks from the first without reading them, still
/// catches a file rewritten with its size and mtime put back (ctime moved), reads everything on request, and reads
/// everything against a catalog that predates identities. Every result is restored and compared with the tree.
/// </summary>
public sealed class UnchangedFileReuseTests : IDisposable
{
    private static readonly DateTimeOffset Time = new(2026, 12, 6, 6, 0, 0, TimeSpan.Zero);
    private readonly TempDir _dir = new();
    private readonly TempRepository _repository = new();

    private string Root => _dir["root"];

    [Fact]
    public async Task An_unchanged_tree_is_backed_up_without_reading_a_file_and_restores_exactly()
    {
        await ContainerTree.BuildAsync(Root);
        var first = await BackupAsync(Time);
        Assert.Equal("none: the guest's first backup", first.Extra["ct.reference"]);
        Assert.True(first.Stats.BytesRead > ContainerTree.BigFileLength);

        var second = await BackupAsync(Time.AddHours(1));

        Assert.Equal(0, second.Stats.BytesRead);
        Assert.Equal(0, second.Stats.ChunksNew);
        Assert.Equal($"{first.Id}: {FilesWithData(first)} files ({first.Stats.BytesRead} bytes) reused unread, 0 unchanged files read to keep the stream compact",
            second.Extra["ct.reference"]);
        // The reused chunks are the first backup's, in its order: the same data stream, the same catalog.
        Assert.Equal(first.Archive!.CatalogChecksum, second.Archive!.CatalogChecksum);
        await AssertRestoresAsync(second.Id);
    }

    [Fact]
    public async Task A_file_rewritten_with_its_size_and_mtime_put_back_is_read_again()
    {
        await ContainerTree.BuildAsync(Root);
        var first = await BackupAsync(Time);
        var big = Path.Combine(Root, ContainerTree.BigFile);
        var passwd = Path.Combine(Root, "etc/passwd");
        var bigStat = await StatAsync(big);
        var passwdStat = await StatAsync(passwd);

        // Same sizes, other bytes, and the mtimes put back to the nanosecond: only ctime tells.
        var content = ContainerTree.Random(ContainerTree.BigFileLength, seed: 4242);
        await using (var stream = new FileStream(big, FileMode.Open, FileAccess.Write))
        {
            await stream.WriteAsync(content);
        }

        var passwdContent = "ROOT:X:0:0:ROOT:/ROOT:/BIN/BASH\n"u8.ToArray();
        Assert.Equal(new FileInfo(passwd).Length, passwdContent.Length);
        await File.WriteAllBytesAsync(passwd, passwdContent);
        (await Tool.RunAsync("touch", "-m", "-d", bigStat.Mtime, big)).AssertSuccess();
        (await Tool.RunAsync("touch", "-m", "-d", passwdStat.Mtime, passwd)).AssertSuccess();
        // An xattr set with the mtime put back too: ctime moves, so its new value is archived.
        var dmesg = Path.Combine(Root, "var/log/dmesg");
        var dmesgStat = await StatAsync(dmesg);
        (await Tool.RunAsync("setfattr", "-n", "user.added", "-v", "later", dmesg)).AssertSuccess();
        (await Tool.RunAsync("touch", "-m", "-d", dmesgStat.Mtime, dmesg)).AssertSuccess();
        Assert.Equal((bigStat.Size, bigStat.Mtime), ((await StatAsync(big)).Size, (await StatAsync(big)).Mtime));
        Assert.Equal(passwdStat.Mtime, (await StatAsync(passwd)).Mtime);
        Assert.NotEqual(bigStat.Ctime, (await StatAsync(big)).Ctime);

        var second = await BackupAsync(Time.AddHours(1));

        Assert.InRange(second.Stats.BytesRead, ContainerTree.BigFileLength + passwdContent.Length, first.Stats.BytesRead - 1);
        Assert.True(second.Stats.ChunksNew > 0);
        Assert.StartsWith($"{first.Id}: ", second.Extra["ct.reference"], StringComparison.Ordinal);
        var restored = await AssertRestoresAsync(second.Id);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(restored, ContainerTree.BigFile)));
        Assert.Equal(passwdContent, await File.ReadAllBytesAsync(Path.Combine(restored, "etc/passwd")));
        var xattr = (await Tool.RunAsync("getfattr", "--only-values", "-n", "user.added", Path.Combine(restored, "var/log/dmesg"))).AssertSuccess();
        Assert.Equal("later", xattr.Stdout);
    }

    [Fact]
    public async Task A_file_changed_within_a_second_of_the_backup_has_no_identity_and_is_read_by_the_next()
    {
        // "Racily clean": on a filesystem that keeps whole seconds, a same-size rewrite within the second of the stat
        // keeps ctime, mtime and size. The catalog must not vouch for such a file.
        Directory.CreateDirectory(Path.Combine(Root, "etc"));
        await File.WriteAllBytesAsync(Path.Combine(Root, "etc", "settled"), ContainerTree.Random(5000, seed: 1));
        for (var i = 0; i < 40; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(Root, "etc", $"f{i:D2}"), "0123456789"); // the stat listing wants 40 entries
        }

        await Task.Delay(TimeSpan.FromMilliseconds(1100));
        var fresh = Path.Combine(Root, "etc", "fresh");
        await File.WriteAllBytesAsync(fresh, ContainerTree.Random(6000, seed: 2));

        var first = await BackupAsync(Time, settle: false);

        await using (var archive = ContainerArchive.Open(_repository.Repository, first.Id))
        {
            Assert.Null(archive.Entries.Single(e => e.Path == "etc/fresh").Identity);
            Assert.NotNull(archive.Entries.Single(e => e.Path == "etc/settled").Identity);
        }

        var freshStat = await StatAsync(fresh);
        var content = ContainerTree.Random(6000, seed: 3);
        await File.WriteAllBytesAsync(fresh, content);
        (await Tool.RunAsync("touch", "-m", "-d", freshStat.Mtime, fresh)).AssertSuccess();

        var second = await BackupAsync(Time.AddHours(1));

        // The fresh file is read (its settled neighbour shares its chunk and may be read along with it).
        Assert.InRange(second.Stats.BytesRead, 6000, 11400);
        var restored = await AssertRestoresAsync(second.Id, tree: false);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(restored, "etc", "fresh")));
    }

    [Fact]
    public async Task A_changed_small_file_among_unchanged_ones_leaves_its_neighbours_reused_and_the_restore_exact()
    {
        Directory.CreateDirectory(Path.Combine(Root, "etc"));
        for (var i = 0; i < 1500; i++)
        {
            await File.WriteAllBytesAsync(Path.Combine(Root, "etc", $"file{i:D4}"), ContainerTree.Random(3000 + i, seed: i));
        }

        var first = await BackupAsync(Time);
        await File.WriteAllBytesAsync(Path.Combine(Root, "etc", "file0700"), ContainerTree.Random(3700, seed: 777));
        File.Delete(Path.Combine(Root, "etc", "file0900"));

        var second = await BackupAsync(Time.AddHours(1));

        // Only the changed file is read; its neighbours' chunks come with the old bytes of it and of the removed file
        // as a gap nothing refers to.
        Assert.Equal(3700, second.Stats.BytesRead);
        Assert.StartsWith($"{first.Id}: 1498 files (", second.Extra["ct.reference"], StringComparison.Ordinal);
        Assert.EndsWith(" reused unread, 0 unchanged files read to keep the stream compact", second.Extra["ct.reference"], StringComparison.Ordinal);
        Assert.InRange(second.Stats.ChunksNew, 1, 1);
        await AssertRestoresAsync(second.Id, tree: false);

        // The gapped catalog is a good reference in turn.
        var third = await BackupAsync(Time.AddHours(2));
        Assert.Equal(0, third.Stats.BytesRead);
        await AssertRestoresAsync(third.Id, tree: false);
    }

    [Fact]
    public async Task Names_that_sort_differently_by_component_and_by_ordinal_are_all_found_in_the_reference()
    {
        // The reference is looked up by a merge in walk order: "a/c/d" comes before "a b" and "a-b" there (a
        // directory's children before its next sibling), and U+1F600 after U+E000 (code points, not UTF-16 units).
        // When the reference holds a removed file, the cursor must step over it: compared in another order, it would
        // seem to lie ahead, the lookups after it would miss, and those files would be read.
        foreach (var name in (string[])["a/b", "a/c/d", "a-b", "a.b", "ab", "a b", "\uE000", "\U0001F600", "é", "z"])
        {
            var path = Path.Combine(Root, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllBytesAsync(path, ContainerTree.Random(100_000, seed: name.Length + name[0]));
        }

        Directory.CreateDirectory(Path.Combine(Root, "more"));
        for (var i = 0; i < 40; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(Root, "more", $"f{i:D2}"), "0123456789"); // the stat listing wants 40 entries
        }

        var first = await BackupAsync(Time);
        File.Delete(Path.Combine(Root, "a/c/d"));
        File.Delete(Path.Combine(Root, "\uE000"));
        var second = await BackupAsync(Time.AddHours(1));

        Assert.Equal(0, second.Stats.BytesRead);
        Assert.StartsWith($"{first.Id}: 48 files (800400 bytes) reused unread", second.Extra["ct.reference"], StringComparison.Ordinal);
        await AssertRestoresAsync(second.Id, tree: false);
    }

    [Fact]
    public async Task Full_read_reads_every_file()
    {
        await ContainerTree.BuildAsync(Root);
        var first = await BackupAsync(Time);

        var second = await BackupAsync(Time.AddHours(1), fullRead: true);

        Assert.Equal(first.Stats.BytesRead, second.Stats.BytesRead);
        Assert.Equal("none: full read requested", second.Extra["ct.reference"]);
        Assert.Equal(first.Archive!.CatalogChecksum, second.Archive!.CatalogChecksum);
        await AssertRestoresAsync(second.Id);
    }

    [Fact]
    public async Task A_reference_catalog_of_version_1_means_every_file_is_read()
    {
        await ContainerTree.BuildAsync(Root);
        var first = await BackupAsync(Time);
        DowngradeToVersion1(first);
        await using (var old = ContainerArchive.Open(_repository.Repository, first.Id))
        {
            Assert.Equal(first.Archive!.Entries, old.Entries.Count); // still readable
        }

        var second = await BackupAsync(Time.AddHours(1));

        Assert.Equal(first.Stats.BytesRead, second.Stats.BytesRead);
        Assert.Equal($"none: {first.Id}'s catalog (version 1) records no inodes and ctimes, so every file was read", second.Extra["ct.reference"]);
        await AssertRestoresAsync(second.Id);
    }

    [Fact]
    public async Task The_cli_reuses_unchanged_files_and_reads_them_all_with_full_read()
    {
        await ContainerTree.BuildAsync(Root);
        var repo = _dir["repo"];
        var first = await BackupCliAsync(repo);
        var second = await BackupCliAsync(repo);
        var third = await BackupCliAsync(repo, "--full-read");

        Assert.True(first.GetProperty("bytes_read").GetInt64() > ContainerTree.BigFileLength);
        Assert.Equal(0, second.GetProperty("bytes_read").GetInt64());
        Assert.StartsWith(first.GetProperty("snapshot").GetString() + ": ", second.GetProperty("reference").GetString(), StringComparison.Ordinal);
        Assert.Equal(first.GetProperty("bytes_read").GetInt64(), third.GetProperty("bytes_read").GetInt64());
        Assert.Equal("none: full read requested", third.GetProperty("reference").GetString());
    }

    public void Dispose()
    {
        _repository.Dispose();
        _dir.Dispose();
    }

    private async Task<JsonElement> BackupCliAsync(string repo, params string[] extra)
    {
        // Snapshot times have a resolution of a second: keep them apart.
        await Task.Delay(1100);
        var result = (await EngineCli.RunAsync(["backup-ct", "--repo", repo, "--vmid", "310", "--dir", Root, "--json", .. extra])).AssertSuccess();
        using var document = JsonDocument.Parse(result.Stdout);
        return document.RootElement.Clone();
    }

    private long FilesWithData(SnapshotManifest manifest)
    {
        var catalog = CatalogReader.Read(Path.Combine(SnapshotDirectory(manifest), CatalogFormat.FileName), manifest.Archive!.CatalogChecksum);
        return catalog.Entries.Count(e => e.Kind == ContainerEntryKind.RegularFile && (e.DataExtents is { } x ? x.Count > 0 : e.Size > 0));
    }

    private static async Task<(long Size, string Mtime, string Ctime)> StatAsync(string path)
    {
        var fields = (await Tool.RunAsync("stat", "-c", "%s|%.9Y|%.9Z", path)).AssertSuccess().Stdout.Trim().Split('|');
        return (long.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), "@" + fields[1], fields[2]);
    }

    private string SnapshotDirectory(SnapshotManifest manifest) =>
        Path.Combine(_repository.Path, "snapshots", manifest.Id.Type, manifest.Id.Vmid, manifest.Id.TimeText);

    /// <summary>
    /// Rewrites the snapshot's catalog as version 1 wrote it (no identities; the first backup's files lie back to
    /// back, as version 1 requires) and puts its checksum into the manifest.
    /// </summary>
    private void DowngradeToVersion1(SnapshotManifest manifest)
    {
        var snapshot = SnapshotDirectory(manifest);
        var path = Path.Combine(snapshot, CatalogFormat.FileName);
        var bytes = File.ReadAllBytes(path);
        var output = new List<byte>(bytes.Length);
        output.AddRange(bytes.AsSpan(0, 8).ToArray());
        output.AddRange(BitConverter.GetBytes(1u));
        output.AddRange(bytes.AsSpan(12, 4).ToArray());
        var position = CatalogFormat.HeaderSize;
        while (bytes[position] == CatalogFormat.EntryTag)
        {
            const int fixedFields = 2 + 4 + (8 * 4) + 4 + 4;
            output.AddRange(bytes.AsSpan(position, fixedFields).ToArray());
            var rest = position + fixedFields + 24; // the identity left out
            var end = rest;
            end = SkipString(bytes, end);
            end = SkipString(bytes, end);
            var xattrs = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(end));
            end += 4;
            for (var i = 0; i < xattrs; i++)
            {
                end = SkipString(bytes, end);
                end += 4 + (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(end));
            }

            var extents = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(end));
            end += 4 + (extents == uint.MaxValue ? 0 : (int)extents * 16) + 8;
            output.AddRange(bytes.AsSpan(rest, end - rest).ToArray());
            position = end;
        }

        output.AddRange(bytes.AsSpan(position, bytes.Length - position - 8).ToArray());
        var body = output.ToArray();
        var checksum = XxHash3.HashToUInt64(body);
        File.WriteAllBytes(path, [.. body, .. BitConverter.GetBytes(checksum)]);
        var manifestPath = Path.Combine(snapshot, "manifest.json");
        File.WriteAllText(manifestPath, File.ReadAllText(manifestPath).Replace(manifest.Archive!.CatalogChecksum,
            checksum.ToString("x16", System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
    }

    private static int SkipString(byte[] bytes, int at)
    {
        var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at));
        return at + 4 + (length == CatalogFormat.NullString ? 0 : (int)length);
    }

    // Unless told otherwise, waits out the walker's racy window first, so that the files just written are recorded
    // with their identity and so reused by the next backup.
    private async Task<SnapshotManifest> BackupAsync(DateTimeOffset time, bool fullRead = false, bool settle = true)
    {
        if (settle)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(1100));
        }

        return await ContainerBackupEngine.BackupAsync(_repository.Repository, new ContainerBackupRequest
        {
            Vmid = "140",
            Directory = Root,
            Time = time,
            FullRead = fullRead,
        }, null, CancellationToken.None);
    }

    /// <summary>
    /// Restores the snapshot and compares the tree with the source, metadata included (and the xattrs and ACLs of
    /// <see cref="ContainerTree"/> when <paramref name="tree"/>); returns where it went.
    /// </summary>
    private async Task<string> AssertRestoresAsync(SnapshotId id, bool tree = true)
    {
        var target = _dir["restored-" + id.TimeText.Replace(':', '-')];
        await using (var archive = ContainerArchive.Open(_repository.Repository, id))
        {
            var summary = await ContainerDirectoryRestorer.RestoreAsync(archive, target, CancellationToken.None);
            Assert.Equal((archive.Entries.Count, 0L), (summary.Entries, summary.XattrsSkipped));
        }

        if (tree)
        {
            await ContainerTree.AssertSameAsync(Root, target);
        }
        else
        {
            await ContainerTree.AssertNoDiffAsync(Root, target);
            Assert.Equal(await ContainerTree.StatListingAsync(Root), await ContainerTree.StatListingAsync(target));
        }

        return target;
    }
}
