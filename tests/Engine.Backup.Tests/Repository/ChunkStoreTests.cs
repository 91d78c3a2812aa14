using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Tests.Repository;

public sealed class ChunkStoreTests
{
    private const int FourMiB = 4 << 20;

    [Fact]
    public async Task Compressible_chunk_is_stored_as_a_zstd_frame_that_zstd_decodes()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Compressible(FourMiB, 1);
        var digest = ChunkDigest.Compute(data);

        var result = await repo.Chunks.PutAsync(digest, data, CancellationToken.None);

        Assert.True(result.Stored);
        Assert.InRange(result.StoredBytes, 41, FourMiB / 2);
        var file = repo.Chunks.PathOf(digest);
        Assert.Equal(result.StoredBytes, new FileInfo(file).Length);
        Assert.Equal(1, File.ReadAllBytes(file)[10]); // encoding byte: zstd

        // The payload after the 40-byte header is a standard zstd frame: the real zstd tool decodes it.
        var payload = Path.Combine(repo.Root, "payload.zst");
        var decoded = Path.Combine(repo.Root, "payload.bin");
        File.WriteAllBytes(payload, File.ReadAllBytes(file)[40..]);
        var zstd = await Tool.RunAsync("zstd", ["-d", "-q", "-f", payload, "-o", decoded], Tool.DefaultTimeout);
        Assert.True(zstd.ExitCode == 0, zstd.ToString());
        Assert.Equal(data, File.ReadAllBytes(decoded));

        var buffer = new byte[FourMiB];
        Assert.Equal(FourMiB, repo.Chunks.Read(digest, buffer));
        Assert.Equal(data, buffer);
        Assert.Equal(ChunkCheck.Ok, repo.Chunks.Verify(digest, rehash: true));
    }

    [Fact]
    public async Task Incompressible_chunk_is_stored_raw_and_reads_back()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Random(FourMiB, 2);
        var digest = ChunkDigest.Compute(data);

        var result = await repo.Chunks.PutAsync(digest, data, CancellationToken.None);

        Assert.True(result.Stored);
        Assert.Equal(FourMiB + 40, result.StoredBytes);
        var file = File.ReadAllBytes(repo.Chunks.PathOf(digest));
        Assert.Equal(0, file[10]); // encoding byte: raw
        Assert.Equal(data, file[40..]);
        var buffer = new byte[FourMiB + 100];
        Assert.Equal(FourMiB, repo.Chunks.Read(digest, buffer));
        Assert.Equal(data, buffer[..FourMiB]);
        Assert.Equal(ChunkCheck.Ok, repo.Chunks.Verify(digest, rehash: true));
    }

    [Fact]
    public async Task Digest_is_the_sha256_that_sha256sum_prints_and_names_the_file()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Random(100_000, 3);
        var sample = Path.Combine(repo.Root, "sample");
        File.WriteAllBytes(sample, data);
        var sha = await Tool.RunAsync("sha256sum", [sample], Tool.DefaultTimeout);

        var digest = await repo.PutAsync(data);

        Assert.Equal(sha.Stdout[..64], digest.ToString());
        Assert.Equal(digest, ChunkDigest.Parse(sha.Stdout[..64]));
        Assert.Equal($"{repo.Chunks.Directory}/{sha.Stdout[..2]}/{sha.Stdout[..64]}", repo.Chunks.PathOf(digest));
        Assert.True(File.Exists(repo.Chunks.PathOf(digest)));
        var bytes = new byte[32];
        digest.CopyTo(bytes);
        Assert.Equal(digest, ChunkDigest.Read(bytes));
        Assert.Throws<FormatException>(() => ChunkDigest.Parse("../../etc/passwd"));
    }

    [Fact]
    public async Task Zero_chunk_is_never_stored_and_reads_as_zeros()
    {
        using var repo = new TempRepository();
        var zeros = new byte[FourMiB];

        var digest = ChunkDigest.ComputeOrZero(zeros);
        var result = await repo.Chunks.PutAsync(digest, zeros, CancellationToken.None);

        Assert.True(digest.IsZero);
        Assert.Equal(ChunkDigest.Zero, digest);
        Assert.False(result.Stored);
        Assert.Empty(repo.ChunkFiles());
        var buffer = TempRepository.Random(1000, 4);
        Assert.Equal(1000, repo.Chunks.Read(ChunkDigest.Zero, buffer));
        Assert.All(buffer, b => Assert.Equal(0, b));
        Assert.True(repo.Chunks.Contains(ChunkDigest.Zero));
        Assert.True(repo.Chunks.Touch(ChunkDigest.Zero));
    }

    [Fact]
    public async Task Second_put_of_a_present_chunk_only_touches_it()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Compressible(300_000, 5);
        var digest = await repo.PutAsync(data);
        var file = repo.Chunks.PathOf(digest);
        var old = DateTime.UtcNow.AddDays(-3);
        File.SetLastWriteTimeUtc(file, old);

        var again = await repo.Chunks.PutAsync(digest, data, CancellationToken.None);

        Assert.False(again.Stored);
        Assert.Equal(0, again.StoredBytes);
        Assert.True(File.GetLastWriteTimeUtc(file) > DateTime.UtcNow.AddMinutes(-1), "a reused chunk must be touched");
        Assert.Single(repo.ChunkFiles());
    }

    [Fact]
    public async Task Torn_chunk_left_by_a_power_loss_is_rewritten_by_the_next_put()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Random(200_000, 6);
        var digest = await repo.PutAsync(data);
        var file = repo.Chunks.PathOf(digest);
        using (var stream = new FileStream(file, FileMode.Open))
        {
            stream.SetLength(1000);
        }

        Assert.Equal(ChunkCheck.Truncated, repo.Chunks.Verify(digest, rehash: false));

        var again = await repo.Chunks.PutAsync(digest, data, CancellationToken.None);

        Assert.True(again.Stored);
        Assert.Equal(ChunkCheck.Ok, repo.Chunks.Verify(digest, rehash: true));
    }

    [Fact]
    public async Task Concurrent_identical_puts_are_harmless()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Compressible(1 << 20, 7);
        var digest = ChunkDigest.Compute(data);
        using var start = new Barrier(8);

        var puts = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            start.SignalAndWait();
            return await repo.Chunks.PutAsync(digest, data, CancellationToken.None);
        })).ToArray();
        var results = await Task.WhenAll(puts);

        Assert.Contains(results, r => r.Stored);
        Assert.Single(repo.ChunkFiles());
        Assert.Equal(ChunkCheck.Ok, repo.Chunks.Verify(digest, rehash: true));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(repo.Path, "tmp")));
    }

    [Fact]
    public async Task A_flipped_payload_byte_is_caught_by_reads_and_quick_verify_naming_digest_and_file()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Compressible(500_000, 8);
        var digest = await repo.PutAsync(data);
        var file = repo.Chunks.PathOf(digest);
        FlipByte(file, 100);

        var error = Assert.Throws<ChunkCorruptException>(() => repo.Chunks.Read(digest, new byte[500_000]));

        Assert.Contains(digest.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains(file, error.Message, StringComparison.Ordinal);
        Assert.Equal(ChunkCheck.ChecksumMismatch, repo.Chunks.Verify(digest, rehash: false));
        Assert.Equal(ChunkCheck.ChecksumMismatch, repo.Chunks.Verify(digest, rehash: true));
    }

    [Fact]
    public async Task A_flipped_header_byte_is_a_bad_header()
    {
        using var repo = new TempRepository();
        var digest = await repo.PutAsync(TempRepository.Random(10_000, 9));
        FlipByte(repo.Chunks.PathOf(digest), 13); // inside the uncompressed length

        Assert.Equal(ChunkCheck.BadHeader, repo.Chunks.Verify(digest, rehash: false));
    }

    [Fact]
    public async Task Content_under_the_wrong_name_passes_the_quick_check_but_not_the_rehash()
    {
        using var repo = new TempRepository();
        var data = TempRepository.Random(10_000, 10);
        var wrong = ChunkDigest.Compute(TempRepository.Random(10_000, 11));
        await repo.Chunks.PutAsync(wrong, data, CancellationToken.None);

        Assert.Equal(ChunkCheck.Ok, repo.Chunks.Verify(wrong, rehash: false));
        Assert.Equal(ChunkCheck.DigestMismatch, repo.Chunks.Verify(wrong, rehash: true));
    }

    [Fact]
    public void Missing_chunk_is_reported_as_missing()
    {
        using var repo = new TempRepository();
        var digest = ChunkDigest.Compute([1, 2, 3]);

        var error = Assert.Throws<ChunkMissingException>(() => repo.Chunks.Read(digest, new byte[10]));

        Assert.Contains(digest.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Equal(ChunkCheck.Missing, repo.Chunks.Verify(digest, rehash: true));
        Assert.False(repo.Chunks.Touch(digest));
        Assert.False(repo.Chunks.Contains(digest));
    }

    [Fact]
    public async Task Destination_smaller_than_the_chunk_is_refused()
    {
        using var repo = new TempRepository();
        var digest = await repo.PutAsync(TempRepository.Random(10_000, 12));

        Assert.Throws<ArgumentException>(() => repo.Chunks.Read(digest, new byte[9_999]));
    }

    internal static void FlipByte(string file, long offset)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = offset;
        var value = stream.ReadByte();
        stream.Position = offset;
        stream.WriteByte((byte)(value ^ 0x40));
    }
}
