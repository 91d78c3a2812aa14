using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Tests.Repository.Backends;

/// <summary>The repository suite on the local directory (the default, unchanged layout).</summary>
public sealed class LocalRepositoryTests : RepositoryContract
{
    private readonly List<string> _roots = [];

    private static RepositoryOptions Options => new() { ChunkSize = Chunk, GcGrace = TimeSpan.Zero };

    protected override Task<BackupRepository> CreateRepositoryAsync()
    {
        var root = Directory.CreateTempSubdirectory("engine-contract-").FullName;
        _roots.Add(root);
        return Task.FromResult(BackupRepository.Open(Path.Combine(root, "repo"), Options));
    }

    protected override Task<BackupRepository> ReopenAsync(BackupRepository repository) =>
        Task.FromResult(BackupRepository.Open(repository.Directory, Options, create: false));

    protected override Task DeleteChunkAsync(BackupRepository repository, ChunkDigest digest)
    {
        File.Delete(repository.LocalChunks.PathOf(digest));
        return Task.CompletedTask;
    }

    protected override Task DeleteManifestAsync(BackupRepository repository, SnapshotId id)
    {
        File.Delete(repository.ManifestPath(id));
        return Task.CompletedTask;
    }

    protected override Task<bool> HasChunkAsync(BackupRepository repository, ChunkDigest digest) =>
        Task.FromResult(File.Exists(repository.LocalChunks.PathOf(digest)));

    protected override void Cleanup()
    {
        foreach (var root in _roots)
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
