using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Tests.Repository;

/// <summary><c>engine restore</c> (and its neighbours) on the unhappy paths: damaged chunks, targets, signals, bad arguments.</summary>
public sealed class RestoreCliTests
{
    private static readonly DateTimeOffset Day1 = new(2026, 11, 1, 6, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task A_swapped_chunk_fails_the_restore_with_exit_1_naming_it_and_leaves_nothing_and_quick_verify_fails()
    {
        using var repo = new TempRepository();
        byte[] a = TempRepository.Random(TempRepository.SmallChunk, 1), b = TempRepository.Random(TempRepository.SmallChunk, 2);
        var snapshot = await repo.BackupWithASwappedChunkAsync("100", Day1, a, b);
        var digestA = ChunkDigest.Compute(a);
        var output = Path.Combine(repo.Root, "out");
        Directory.CreateDirectory(output);
        var target = Path.Combine(output, "disk.raw");

        var restore = await EngineCli.RunAsync("restore", "--repo", repo.Path, "--snapshot", snapshot.Id.ToString(), "--disk", "scsi0", "--to", target);
        var quick = await EngineCli.RunAsync("verify", "--repo", repo.Path, "--quick");

        restore.AssertFailure(1, digestA.ToString());
        Assert.Empty(Directory.GetFileSystemEntries(output));
        quick.AssertExitCode(1);
        Assert.Contains(digestA.ToString(), quick.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_existing_file_is_replaced_only_with_force_and_a_dev_path_that_is_no_device_is_a_file()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Random(TempRepository.SmallChunk, 4);
        var snapshot = await repo.BackupAsync("100", Day1, [data]);
        var target = Path.Combine(repo.Root, "existing.raw");
        File.WriteAllText(target, "precious");

        var refused = await Restore(repo, snapshot.Id, target);
        Assert.Equal("precious", File.ReadAllText(target));
        var forced = await Restore(repo, snapshot.Id, target, "--force");

        refused.AssertFailure(1, $"{target} already exists");
        Assert.Contains("--force", refused.Stderr, StringComparison.Ordinal);
        forced.AssertSuccess();
        Assert.Equal(data, File.ReadAllBytes(target));

        // /dev/shm is a tmpfs folder: a path there is a new file, made whole and renamed into place like any other.
        var shm = $"/dev/shm/engine-restore-{Guid.NewGuid():N}.raw";
        try
        {
            (await Restore(repo, snapshot.Id, shm)).AssertSuccess();
            Assert.Equal(data, File.ReadAllBytes(shm));
            Assert.Empty(Directory.GetFiles("/dev/shm", Path.GetFileName(shm) + "*.partial"));
        }
        finally
        {
            File.Delete(shm);
        }
    }

    [Fact]
    public async Task A_block_device_is_written_in_place()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Random(TempRepository.SmallChunk, 5);
        var snapshot = await repo.BackupAsync("100", Day1, [data, null]);
        var backing = Path.Combine(repo.Root, "loop.img");
        File.WriteAllBytes(backing, new byte[4 * TempRepository.SmallChunk]);
        var loop = (await Tool.RunAsync("/usr/sbin/losetup", "--find", "--show", backing)).AssertSuccess().Stdout.Trim();
        try
        {
            (await Restore(repo, snapshot.Id, loop)).AssertSuccess();
        }
        finally
        {
            (await Tool.RunAsync("/usr/sbin/losetup", "-d", loop)).AssertSuccess();
        }

        Assert.Equal([.. data, .. new byte[3 * TempRepository.SmallChunk]], File.ReadAllBytes(backing));
    }

    [Theory]
    [InlineData("TERM", 143)]
    [InlineData("INT", 130)]
    public async Task A_signal_stops_the_restore_removes_the_partial_file_and_exits_128_plus_the_signal(string signal, int exitCode)
    {
        using var repo = new TempRepository();
        var chunk = await repo.PutAsync(TempRepository.Random(TempRepository.SmallChunk, 6));
        await using (var writer = repo.Repository.BeginSnapshot("vm", "100", Day1))
        {
            // 4 GiB of data from one stored chunk: a restore that takes a while, from a repository that takes none.
            writer.AddDevice("scsi0", 4L << 30, TempRepository.SmallChunk, Enumerable.Repeat(chunk, (int)((4L << 30) / TempRepository.SmallChunk)).ToArray(), null);
            await writer.CommitAsync(CancellationToken.None);
        }

        var output = Path.Combine(repo.Root, "out");
        Directory.CreateDirectory(output);
        await using var restore = EngineCli.Start("restore", "--repo", repo.Path, "--snapshot", $"vm/100/{Day1:yyyy-MM-ddTHH:mm:ssZ}", "--disk", "scsi0", "--to", Path.Combine(output, "disk.raw"));
        await restore.WaitUntilAsync(() => Directory.GetFiles(output, "*.partial").Length > 0, EngineCli.Timeout, "the partial file");
        (await Tool.RunAsync("kill", $"-{signal}", restore.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture))).AssertSuccess();

        Assert.True(await restore.WaitForExitAsync(EngineCli.Timeout) == exitCode, restore.Describe());
        Assert.Empty(Directory.GetFileSystemEntries(output));
        Assert.Contains($"SIG{signal}", restore.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_arguments_get_plain_messages_and_sysexits_codes()
    {
        using var repo = new TempRepository();
        var snapshot = await repo.BackupAsync("100", Day1, [TempRepository.Random(1000, 7)]);
        var id = snapshot.Id.ToString();
        var target = Path.Combine(repo.Root, "x.raw");
        var empty = Path.Combine(repo.Root, "empty");
        Directory.CreateDirectory(empty);

        var noFolder = await Restore(repo, snapshot.Id, "/nonexistent/dir/x.raw");
        var noDisk = await EngineCli.RunAsync("restore", "--repo", repo.Path, "--snapshot", id, "--disk", "nosuch", "--to", target);
        var badId = await EngineCli.RunAsync("restore", "--repo", repo.Path, "--snapshot", "nosuch", "--disk", "scsi0", "--to", target);
        var noSnapshot = await EngineCli.RunAsync("restore", "--repo", repo.Path, "--snapshot", "vm/100/2000-01-01T00:00:00Z", "--disk", "scsi0", "--to", target);
        var noRepo = await EngineCli.RunAsync("restore", "--repo", Path.Combine(repo.Root, "nowhere"), "--snapshot", id, "--disk", "scsi0", "--to", target);
        var emptyRepo = await EngineCli.RunAsync("restore", "--repo", empty, "--snapshot", id, "--disk", "scsi0", "--to", target);
        var gc = await EngineCli.RunAsync("gc", "--repo", Path.Combine(repo.Root, "nowhere"));
        var verify = await EngineCli.RunAsync("verify", "--repo", Path.Combine(repo.Root, "nowhere"));

        noFolder.AssertFailure(1, "/nonexistent/dir");
        noDisk.AssertFailure(66, "has no disk 'nosuch' (it has: scsi0)");
        badId.AssertFailure(64, "'nosuch' is not a snapshot id");
        noSnapshot.AssertFailure(66, "vm/100/2000-01-01T00:00:00Z");
        noRepo.AssertFailure(66, "nowhere");
        emptyRepo.AssertFailure(66, empty);
        Assert.Empty(Directory.GetFileSystemEntries(empty)); // looking for a snapshot creates no repository
        gc.AssertFailure(66, "nowhere");
        verify.AssertFailure(66, "nowhere");
        foreach (var result in (ToolResult[])[noFolder, noDisk, badId, noSnapshot, noRepo, emptyRepo, gc, verify])
        {
            result.AssertNoRuntimeText();
        }

        Assert.False(File.Exists(target));
    }

    private static Task<ToolResult> Restore(TempRepository repo, SnapshotId id, string target, params string[] extra) =>
        EngineCli.RunAsync(["restore", "--repo", repo.Path, "--snapshot", id.ToString(), "--disk", "scsi0", "--to", target, .. extra]);
}
