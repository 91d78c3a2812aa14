using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text.Json.Nodes;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Restore;

namespace Engine.Backup.Tests.Repository;

/// <summary>
/// Every read of a chunk by an index checks that the file is the chunk the index names (the payload checksum recorded
/// beside the digest, rehashing only when it differs); chunk files are never followed as links.
/// </summary>
public sealed class ChunkIdentityTests
{
    private static readonly DateTimeOffset Day1 = new(2026, 11, 1, 6, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task A_chunk_file_copied_over_another_fails_the_snapshot_read_and_the_quick_verify()
    {
        using var repo = new TempRepository();
        byte[] a = TempRepository.Random(TempRepository.SmallChunk, 1), b = TempRepository.Random(TempRepository.SmallChunk, 2);
        var snapshot = await repo.BackupWithASwappedChunkAsync("100", Day1, a, b);
        var digestA = ChunkDigest.Compute(a);

        var read = await Assert.ThrowsAsync<ChunkCorruptException>(() => ReadDeviceAsync(repo, snapshot.Id));
        var quick = await repo.Repository.VerifyAsync(null, null, CancellationToken.None, rehash: false);

        Assert.Equal(digestA, read.Digest);
        Assert.Equal(ChunkCheck.DigestMismatch, read.Check);
        Assert.Contains(digestA.ToString(), read.Message, StringComparison.Ordinal);
        var bad = Assert.Single(quick.BadChunks);
        Assert.Equal(digestA, bad.Digest);
        Assert.Equal(ChunkCheck.DigestMismatch, bad.Check);
    }

    [Fact]
    public async Task A_chunk_rewritten_with_other_bytes_of_the_same_content_still_reads_and_verifies()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Compressible(TempRepository.SmallChunk, 3);
        var snapshot = await repo.BackupAsync("100", Day1, [data]);
        var digest = ChunkDigest.Compute(data);
        var stored = File.ReadAllBytes(repo.Chunks.PathOf(digest));
        Assert.Equal(1, stored[10]); // zstd now

        // As another zstd version, or a later backup repairing a torn chunk, might write it: raw this time.
        var raw = new byte[ChunkHeader.Size + data.Length];
        new ChunkHeader(ChunkEncoding.Raw, data.Length, data.Length, XxHash3.HashToUInt64(data)).Write(raw);
        data.CopyTo(raw, ChunkHeader.Size);
        File.WriteAllBytes(repo.Chunks.PathOf(digest), raw);

        Assert.Equal(data, await ReadDeviceAsync(repo, snapshot.Id));
        Assert.True((await repo.Repository.VerifyAsync(null, null, CancellationToken.None, rehash: false)).IsClean);
    }

    [Fact]
    public async Task A_format_1_index_without_payload_checksums_still_restores_and_a_swap_is_still_refused()
    {
        using var repo = new TempRepository();
        byte[] a = TempRepository.Random(TempRepository.SmallChunk, 4), b = TempRepository.Random(TempRepository.SmallChunk, 5);
        var snapshot = await repo.BackupAsync("100", Day1, [a, b]);
        DowngradeToFormat1(repo, snapshot.Id, "scsi0");

        Assert.Equal(ChunkStore.UnknownPayloadChecksum, repo.Repository.ReadIndex(snapshot.Id, "scsi0").PayloadChecksum(0));
        Assert.Equal(a.Concat(b).ToArray(), await ReadDeviceAsync(repo, snapshot.Id));

        repo.CopyChunkOver(ChunkDigest.Compute(b), ChunkDigest.Compute(a));
        var error = await Assert.ThrowsAsync<ChunkCorruptException>(() => ReadDeviceAsync(repo, snapshot.Id));
        Assert.Equal(ChunkDigest.Compute(a), error.Digest);
    }

    [Fact]
    public async Task A_chunk_read_by_its_name_alone_is_rehashed()
    {
        using var repo = new TempRepository();
        byte[] a = TempRepository.Random(10_000, 6), b = TempRepository.Random(10_000, 7);
        var digestA = await repo.PutAsync(a);
        repo.CopyChunkOver(await repo.PutAsync(b), digestA);

        var error = Assert.Throws<ChunkCorruptException>(() => repo.Chunks.Read(digestA, new byte[10_000]));

        Assert.Equal(ChunkCheck.DigestMismatch, error.Check);
    }

    [Fact]
    public async Task Reuse_never_follows_a_link_in_place_of_a_chunk_and_never_touches_its_target()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Random(10_000, 8);
        var digest = await repo.PutAsync(data);
        var outside = Path.Combine(repo.Root, "outside.txt");
        File.WriteAllText(outside, "not the repository's");
        var longAgo = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(outside, longAgo);
        var chunkPath = repo.Chunks.PathOf(digest);
        File.Delete(chunkPath);
        File.CreateSymbolicLink(chunkPath, outside);

        Assert.False(repo.Chunks.Touch(digest));
        Assert.False(repo.Chunks.TouchAll([digest], out var missing));
        Assert.Equal(digest, missing);
        Assert.False(repo.Chunks.Contains(digest));
        Assert.Equal(ChunkCheck.NotRegularFile, repo.Chunks.Verify(digest, rehash: false));
        Assert.Equal(ChunkCheck.NotRegularFile, Assert.Throws<ChunkCorruptException>(() => repo.Chunks.Read(digest, new byte[10_000])).Check);
        Assert.Equal(longAgo, File.GetLastWriteTimeUtc(outside));

        // A backup that meets the chunk again replaces the link with the chunk, leaving the link's target alone.
        var result = await repo.Chunks.PutAsync(digest, data, CancellationToken.None);
        Assert.True(result.Stored);
        Assert.Null(new FileInfo(chunkPath).LinkTarget);
        Assert.Equal("not the repository's", File.ReadAllText(outside));
        Assert.Equal(longAgo, File.GetLastWriteTimeUtc(outside));
        Assert.Equal(ChunkCheck.Ok, repo.Chunks.Verify(digest, rehash: true));
    }

    [Fact]
    public async Task A_fifo_in_place_of_a_chunk_is_refused_without_blocking()
    {
        using var repo = new TempRepository();
        var digest = await repo.PutAsync(TempRepository.Random(10_000, 9));
        var chunkPath = repo.Chunks.PathOf(digest);
        File.Delete(chunkPath);
        (await Tool.RunAsync("mkfifo", chunkPath)).AssertSuccess();

        var check = await Task.Run(() => repo.Chunks.Verify(digest, rehash: true)).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(ChunkCheck.NotRegularFile, check);
        Assert.False(repo.Chunks.Touch(digest));
    }

    /// <summary>Reads a snapshot's whole <c>scsi0</c> through the device that restore, export and NBD serve it with.</summary>
    internal static async Task<byte[]> ReadDeviceAsync(TempRepository repo, SnapshotId id)
    {
        var index = repo.Repository.ReadIndex(id, "scsi0");
        await using var device = new SnapshotVolumeDevice(repo.Repository, index);
        var bytes = new byte[index.Size];
        await device.ReadAsync(0, bytes);
        return bytes;
    }

    /// <summary>Rewrites a device's index as Engine wrote it before payload checksums (format 1), manifest included.</summary>
    internal static void DowngradeToFormat1(TempRepository repo, SnapshotId id, string device)
    {
        var directory = Path.Combine(repo.Path, "snapshots", id.Type, id.Vmid, id.TimeText);
        var indexPath = Path.Combine(directory, device + ".index");
        var current = File.ReadAllBytes(indexPath);
        var count = BinaryPrimitives.ReadInt32LittleEndian(current.AsSpan(28));
        var old = new byte[32 + (count * ChunkDigest.Length) + sizeof(ulong)];
        current.AsSpan(0, 32 + (count * ChunkDigest.Length)).CopyTo(old);
        BinaryPrimitives.WriteUInt32LittleEndian(old.AsSpan(8), 1);
        var checksum = XxHash3.HashToUInt64(old.AsSpan(0, old.Length - sizeof(ulong)));
        BinaryPrimitives.WriteUInt64LittleEndian(old.AsSpan(old.Length - sizeof(ulong)), checksum);
        File.WriteAllBytes(indexPath, old);

        var manifestPath = Path.Combine(directory, BackupRepository.ManifestFileName);
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        foreach (var entry in manifest["devices"]!.AsArray())
        {
            if ((string?)entry!["name"] == device)
            {
                entry["indexChecksum"] = checksum.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        File.WriteAllText(manifestPath, manifest.ToJsonString());
    }
}
