using Engine.Backup.Repository.Storage;
using Engine.Backup.S3;

namespace Engine.Backup.Tests.Storage.S3;

/// <summary>S3 Object Lock on radosgw: retained objects cannot be deleted, and their retention only grows.</summary>
[Collection(CephGateway.Collection)]
public sealed class S3ObjectLockTests(CephGateway gateway)
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task An_object_saved_with_a_retention_cannot_be_deleted_and_stays_readable()
    {
        await using var store = await S3Stores.CreateAsync(gateway, new S3RetentionSettings(1), "lock");
        Assert.True(store.Capabilities.HasFlag(ObjectStoreCapabilities.ObjectLock));
        var name = S3Stores.Chunk(11);
        var content = S3Stores.Bytes(5000, 11);
        var until = DateTimeOffset.UtcNow.AddDays(1);

        await store.SaveAsync(name, content, new SaveOptions(RetainUntil: until), None);

        // The store deletes the object's version (a plain DELETE would only hide it behind a delete marker); the
        // gateway refuses that while the version is retained.
        var e = await Assert.ThrowsAsync<ObjectLockedException>(async () => await store.RemoveAsync(name, None));
        Assert.Contains(name.Key, e.Message, StringComparison.Ordinal);
        Assert.Contains(store.Repository.Bucket, e.Message, StringComparison.Ordinal);
        Assert.NotNull(e.RetainUntil);
        Assert.InRange(e.RetainUntil.Value, until.AddSeconds(-2), until.AddSeconds(2));
        var back = new byte[content.Length];
        Assert.Equal(content.Length, await store.LoadAsync(name, 0, back, None));
        Assert.Equal(content, back);
    }

    [Fact]
    public async Task ExtendRetention_moves_the_date_out_and_never_shortens_it()
    {
        await using var store = await S3Stores.CreateAsync(gateway, new S3RetentionSettings(1, ObjectLockMode.Governance), "extend");
        var name = S3Stores.Chunk(12);
        var first = DateTimeOffset.UtcNow.AddHours(2);
        await store.SaveAsync(name, new byte[10], new SaveOptions(RetainUntil: first, LockMode: ObjectLockMode.Governance), None);

        var later = DateTimeOffset.UtcNow.AddDays(3);
        await store.ExtendRetentionAsync(name, later, ObjectLockMode.Governance, None);
        await store.ExtendRetentionAsync(name, first, ObjectLockMode.Governance, None);

        var head = await store.HeadAsync(name.Key, None);
        Assert.NotNull(head?.ObjectLockRetainUntilDate);
        Assert.InRange(new DateTimeOffset(head.ObjectLockRetainUntilDate.Value.ToUniversalTime()), later.AddSeconds(-2), later.AddSeconds(2));
        var e = await Assert.ThrowsAsync<ObjectLockedException>(async () => await store.RemoveAsync(name, None));
        Assert.InRange(e.RetainUntil!.Value, later.AddSeconds(-2), later.AddSeconds(2));
    }

    [Fact]
    public async Task Save_IfAbsent_in_a_locked_bucket_finds_the_existing_object_though_radosgw_ignores_If_None_Match_there()
    {
        // radosgw 16 answers 200 to a conditional PUT on a versioned bucket and stores a second version: the store
        // asks with a HEAD first there, and says the check is not atomic.
        await using var store = await S3Stores.CreateAsync(gateway, new S3RetentionSettings(1), "ifabsent");
        var name = S3Stores.Chunk(14);
        var first = S3Stores.Bytes(100, 14);

        Assert.Equal(SaveOutcome.Written, await store.SaveAsync(name, first, new SaveOptions(IfAbsent: true), None));
        Assert.Equal(SaveOutcome.AlreadyExists, await store.SaveAsync(name, S3Stores.Bytes(100, 15), new SaveOptions(IfAbsent: true), None));

        var back = new byte[100];
        await store.LoadAsync(name, 0, back, None);
        Assert.Equal(first, back);
        Assert.False(store.Capabilities.HasFlag(ObjectStoreCapabilities.AtomicIfAbsent));
    }

    [Fact]
    public async Task An_object_without_retention_in_a_locked_bucket_is_deleted_for_good()
    {
        await using var store = await S3Stores.CreateAsync(gateway, new S3RetentionSettings(1), "unlocked");
        var name = S3Stores.Chunk(13);
        await store.SaveAsync(name, new byte[10], default, None);

        Assert.True(await store.RemoveAsync(name, None));
        Assert.Null(await store.StatAsync(name, None));
    }

    [Fact]
    public async Task Removing_an_object_written_twice_in_a_locked_bucket_leaves_no_older_version_behind()
    {
        // Regression: only the current version was deleted, so the first write became current again and gc freed nothing.
        await using var store = await S3Stores.CreateAsync(gateway, new S3RetentionSettings(1), "versions");
        var name = S3Stores.Chunk(14);
        await store.SaveAsync(name, new byte[] { 1, 2, 3 }, default, None);
        await store.SaveAsync(name, new byte[] { 1, 2, 3 }, default, None);

        Assert.True(await store.RemoveAsync(name, None));
        Assert.Null(await store.StatAsync(name, None));
        Assert.False(await store.RemoveAsync(name, None));
    }

    [Fact]
    public async Task Init_with_retention_refuses_an_existing_bucket_without_object_lock()
    {
        var options = S3Stores.Options(gateway);
        var plain = S3RepositoryLocation.Parse($"s3://{CephGateway.NewBucketName("plain")}/a");
        await S3Repository.InitializeAsync(plain, options, null, None);

        var e = await Assert.ThrowsAsync<ObjectStoreException>(() =>
            S3Repository.InitializeAsync(S3RepositoryLocation.Parse($"s3://{plain.Bucket}/b"), options, new S3RetentionSettings(7), None));
        Assert.Contains($"bucket {plain.Bucket} exists without Object Lock", e.Message, StringComparison.Ordinal);
    }
}
