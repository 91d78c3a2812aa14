using System.Security.Cryptography;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Tests.Repository;

/// <summary>A repository in a fresh temporary directory, deleted afterwards; helpers to fill it.</summary>
internal sealed class TempRepository : IDisposable
{
    public const int SmallChunk = 64 << 10;

    public TempRepository(RepositoryOptions? options = null)
    {
        Root = Directory.CreateTempSubdirectory("engine-repo-test-").FullName;
        Path = System.IO.Path.Combine(Root, "repo");
        Options = options ?? new RepositoryOptions { ChunkSize = SmallChunk, GcGrace = TimeSpan.Zero };
        Repository = BackupRepository.Open(Path, Options);
    }

    public string Root { get; }

    public string Path { get; }

    public RepositoryOptions Options { get; }

    public BackupRepository Repository { get; private set; }

    public ChunkStore Chunks => Repository.LocalChunks;

    /// <summary>Closes and opens the repository again, as a new process would.</summary>
    public BackupRepository Reopen()
    {
        Repository.Dispose();
        Repository = BackupRepository.Open(Path, Options, create: false);
        return Repository;
    }

    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Text-like data zstd shrinks a lot.</summary>
    public static byte[] Compressible(int length, int seed)
    {
        var bytes = new byte[length];
        var random = new Random(seed);
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)('a' + (random.Next(8) == 0 ? random.Next(26) : (i / 7) % 5));
        }

        return bytes;
    }

    public async Task<ChunkDigest> PutAsync(byte[] data)
    {
        var digest = ChunkDigest.ComputeOrZero(data);
        await Chunks.PutAsync(digest, data, CancellationToken.None);
        return digest;
    }

    /// <summary>
    /// Commits a snapshot with one device per entry of <paramref name="devices"/> (each a list of chunk contents; a null
    /// entry is an all-zero chunk).
    /// </summary>
    public async Task<SnapshotManifest> BackupAsync(string vmid, DateTimeOffset time, params byte[]?[][] devices)
    {
        await using var writer = Repository.BeginSnapshot("vm", vmid, time);
        for (var d = 0; d < devices.Length; d++)
        {
            var digests = new ChunkDigest[devices[d].Length];
            for (var i = 0; i < digests.Length; i++)
            {
                digests[i] = devices[d][i] is { } data ? await PutAsync(data) : ChunkDigest.Zero;
            }

            writer.AddDevice($"scsi{d}", (long)digests.Length * SmallChunk, SmallChunk, digests, null);
        }

        writer.Manifest.GuestConfig = $"memory: 512\nname: guest{vmid}\n";
        return await writer.CommitAsync(CancellationToken.None);
    }

    /// <summary>A snapshot with no devices, only a time: enough for prune.</summary>
    public async Task<SnapshotId> EmptySnapshotAsync(string vmid, string time)
    {
        await using var writer = Repository.BeginSnapshot("vm", vmid, DateTimeOffset.Parse(time, System.Globalization.CultureInfo.InvariantCulture));
        return (await writer.CommitAsync(CancellationToken.None)).Id;
    }

    /// <summary>Copies chunk <paramref name="donor"/>'s file over <paramref name="victim"/>'s: both stay well-formed, but the victim's name now lies.</summary>
    public void CopyChunkOver(ChunkDigest donor, ChunkDigest victim) => File.Copy(Chunks.PathOf(donor), Chunks.PathOf(victim), overwrite: true);

    /// <summary>A snapshot of one device of two random chunks, <paramref name="a"/> then <paramref name="b"/>, whose first chunk file then holds the second.</summary>
    public async Task<SnapshotManifest> BackupWithASwappedChunkAsync(string vmid, DateTimeOffset time, byte[] a, byte[] b)
    {
        var snapshot = await BackupAsync(vmid, time, [a, b]);
        CopyChunkOver(ChunkDigest.Compute(b), ChunkDigest.Compute(a));
        return snapshot;
    }

    /// <summary>Pretends every chunk file was last used <paramref name="age"/> ago.</summary>
    public void AgeAllChunks(TimeSpan age)
    {
        var when = DateTime.UtcNow - age;
        foreach (var file in Directory.EnumerateFiles(Chunks.Directory, "*", SearchOption.AllDirectories))
        {
            if (!file.EndsWith(".lock", StringComparison.Ordinal))
            {
                File.SetLastWriteTimeUtc(file, when);
            }
        }
    }

    public string[] ChunkFiles() =>
        Directory.EnumerateFiles(Chunks.Directory, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".lock", StringComparison.Ordinal)).Order().ToArray();

    public static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public void Dispose()
    {
        Repository.Dispose();
        Directory.Delete(Root, recursive: true);
    }
}
