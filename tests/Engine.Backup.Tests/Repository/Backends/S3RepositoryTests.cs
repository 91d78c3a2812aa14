using Engine.Backup.Repository;
using Engine.Backup.Repository.Backends;
using Engine.Backup.Repository.ChunkObjects;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.S3;
using Engine.Backup.Tests.Storage.S3;

namespace Engine.Backup.Tests.Repository.Backends;

/// <summary>The repository suite on S3: a bucket on the shared Ceph radosgw, made as <c>engine init</c> makes it.</summary>
[Collection(CephGateway.Collection)]
public sealed class S3RepositoryTests(CephGateway gateway) : RepositoryContract
{
    internal static ObjectRepositorySettings Settings(int? retainDays = null) =>
        new() { ChunkSize = Chunk, CompressionLevel = 3, GcGrace = TimeSpan.Zero, RetainDays = retainDays };

    protected override async Task<BackupRepository> CreateRepositoryAsync() =>
        await BackupRepository.OpenAsync(await S3Stores.CreateAsync(gateway, purpose: "repo"), Settings(), CancellationToken.None);

    protected override async Task<BackupRepository> ReopenAsync(BackupRepository repository) =>
        await BackupRepository.OpenAsync(await S3Stores.OpenAsync(gateway, S3RepositoryLocation.Parse(repository.Directory)), Settings(), CancellationToken.None);

    protected override async Task DeleteChunkAsync(BackupRepository repository, ChunkDigest digest)
    {
        await using var raw = await S3Stores.OpenAsync(gateway, S3RepositoryLocation.Parse(repository.Directory));
        Assert.True(await raw.RemoveAsync(ObjectChunkStore.NameOf(digest), CancellationToken.None));
    }

    protected override async Task DeleteManifestAsync(BackupRepository repository, SnapshotId id)
    {
        await using var raw = await S3Stores.OpenAsync(gateway, S3RepositoryLocation.Parse(repository.Directory));
        Assert.True(await raw.RemoveAsync(ObjectSnapshotStorage.NameOf(id, "manifest.json"), CancellationToken.None));
    }

    protected override async Task<bool> HasChunkAsync(BackupRepository repository, ChunkDigest digest)
    {
        await using var raw = await S3Stores.OpenAsync(gateway, S3RepositoryLocation.Parse(repository.Directory));
        return await raw.StatAsync(ObjectChunkStore.NameOf(digest), CancellationToken.None) is not null;
    }
}
