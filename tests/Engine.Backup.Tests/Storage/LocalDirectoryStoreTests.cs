using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Local;

namespace Engine.Backup.Tests.Storage;

/// <summary>The local directory backend: the shared contract, plus its layout, modes and refusal of links.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalDirectoryStoreTests : ObjectStoreContract, IDisposable
{
    private readonly TempDir _dir = new();
    private int _stores;

    protected override Task<IObjectStore> CreateStoreAsync() =>
        Task.FromResult<IObjectStore>(new LocalDirectoryStore(_dir[$"repo{Interlocked.Increment(ref _stores)}"]));

    protected override Task PutRawAsync(IObjectStore store, string key, byte[] content)
    {
        var path = Path.Combine(store.Location, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return File.WriteAllBytesAsync(path, content);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Objects_lie_where_the_local_repository_always_kept_them_with_private_modes()
    {
        await using var store = await CreateStoreAsync();
        var content = RandomBytes(100, 1);
        var chunk = Chunk(content);
        var snapshot = Snapshot("vm/100/2026-12-06T10:00:00Z/manifest.json");

        await store.SaveAsync(chunk, content, new SaveOptions(IfAbsent: true), CancellationToken.None);
        await store.SaveAsync(snapshot, new byte[] { 1 }, default, CancellationToken.None);
        await store.SaveAsync(ObjectName.Config, new byte[] { 2 }, default, CancellationToken.None);

        var root = store.Location;
        var chunkPath = $"{root}/chunks/{chunk.Name[..2]}/{chunk.Name}";
        Assert.Equal(content, await File.ReadAllBytesAsync(chunkPath));
        Assert.Equal([1], await File.ReadAllBytesAsync($"{root}/snapshots/vm/100/2026-12-06T10:00:00Z/manifest.json"));
        Assert.Equal([2], await File.ReadAllBytesAsync($"{root}/config"));

        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        const UnixFileMode PrivateFolder = Private | UnixFileMode.UserExecute;
        const UnixFileMode SearchOnly = PrivateFolder | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        Assert.Equal(Private, File.GetUnixFileMode(chunkPath));
        Assert.Equal(Private, File.GetUnixFileMode($"{root}/config"));
        Assert.Equal(SearchOnly, File.GetUnixFileMode(root));
        Assert.Equal(SearchOnly, File.GetUnixFileMode($"{root}/chunks"));
        Assert.Equal(SearchOnly, File.GetUnixFileMode($"{root}/chunks/{chunk.Name[..2]}"));
        Assert.Equal(PrivateFolder, File.GetUnixFileMode($"{root}/snapshots"));
        Assert.Equal(PrivateFolder, File.GetUnixFileMode($"{root}/snapshots/vm/100/2026-12-06T10:00:00Z"));
        Assert.Equal(PrivateFolder, File.GetUnixFileMode($"{root}/tmp"));
        Assert.Empty(Directory.GetFileSystemEntries($"{root}/tmp"));
    }

    [Fact]
    public async Task A_link_in_place_of_an_object_is_never_followed()
    {
        await using var store = await CreateStoreAsync();
        var secret = _dir["secret"];
        await File.WriteAllBytesAsync(secret, [42, 42]);
        var content = RandomBytes(10, 2);
        var chunk = Chunk(content);
        var path = $"{store.Location}/chunks/{chunk.Name[..2]}/{chunk.Name}";
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.CreateSymbolicLink(path, secret);

        var load = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.LoadAsync(chunk, 0, new byte[10], CancellationToken.None));
        var stat = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.StatAsync(chunk, CancellationToken.None));
        var saveIfAbsent = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.SaveAsync(chunk, content, new SaveOptions(IfAbsent: true), CancellationToken.None));
        var listed = await ListAllAsync(store, ObjectKind.Chunk);

        Assert.IsNotType<ObjectNotFoundException>(load);
        foreach (var e in new[] { load, stat, saveIfAbsent })
        {
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
            Assert.Contains("symbolic link", e.Message, StringComparison.Ordinal);
        }

        Assert.Empty(listed);

        // Removing it removes the link, and an overwrite replaces it: the file it pointed at is never touched.
        Assert.True(await store.RemoveAsync(chunk, CancellationToken.None));
        File.CreateSymbolicLink(path, secret);
        Assert.Equal(SaveOutcome.Written, await store.SaveAsync(chunk, content, default, CancellationToken.None));
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
        Assert.Null(new FileInfo(path).LinkTarget);
        Assert.Equal([42, 42], await File.ReadAllBytesAsync(secret));
    }

    [Fact]
    public async Task A_link_in_place_of_a_folder_is_never_followed()
    {
        await using var store = await CreateStoreAsync();
        var outside = _dir["outside"];
        Directory.CreateDirectory(outside);
        var content = RandomBytes(10, 3);
        var chunk = Chunk(content);
        await File.WriteAllBytesAsync(Path.Combine(outside, chunk.Name), content);
        Directory.CreateDirectory($"{store.Location}/chunks");
        var fanOut = $"{store.Location}/chunks/{chunk.Name[..2]}";
        Directory.CreateSymbolicLink(fanOut, outside);
        var snapshots = $"{store.Location}/snapshots";
        Directory.CreateSymbolicLink(snapshots, outside);

        var load = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.LoadAsync(chunk, 0, new byte[10], CancellationToken.None));
        var save = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.SaveAsync(chunk, RandomBytes(10, 4), default, CancellationToken.None));
        var remove = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.RemoveAsync(chunk, CancellationToken.None));
        var listedChunks = await ListAllAsync(store, ObjectKind.Chunk);
        var listSnapshots = await Assert.ThrowsAsync<ObjectStoreException>(() => ListAllAsync(store, ObjectKind.Snapshot));

        foreach (var e in new[] { load, save, remove })
        {
            Assert.Contains(fanOut, e.Message, StringComparison.Ordinal);
            Assert.Contains("not followed", e.Message, StringComparison.Ordinal);
        }

        Assert.Contains(snapshots, listSnapshots.Message, StringComparison.Ordinal);
        Assert.Empty(listedChunks);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(outside, chunk.Name)));
        Assert.Single(Directory.GetFiles(outside));
        Assert.Empty(Directory.GetFileSystemEntries($"{store.Location}/tmp"));
    }

    [Fact]
    public async Task A_failed_save_leaves_no_temporary_file_and_names_the_object()
    {
        await using var store = await CreateStoreAsync();
        var manifest = Snapshot("vm/100/2026-12-06T10:00:00Z/manifest.json");
        var blocked = Snapshot("vm/101/2026-12-06T10:00:00Z/manifest.json");

        // A folder where the object should be (rename: EISDIR), a file where a folder should be (ENOTDIR).
        Directory.CreateDirectory($"{store.Location}/snapshots/{manifest.Name}");
        Directory.CreateDirectory($"{store.Location}/snapshots/vm");
        await File.WriteAllBytesAsync($"{store.Location}/snapshots/vm/101", [1]);

        var intoFolder = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.SaveAsync(manifest, new byte[] { 1, 2, 3 }, default, CancellationToken.None));
        var intoFolderIfAbsent = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.SaveAsync(manifest, new byte[] { 1, 2, 3 }, new SaveOptions(IfAbsent: true), CancellationToken.None));
        var underFile = await Assert.ThrowsAsync<ObjectStoreException>(async () => await store.SaveAsync(blocked, new byte[] { 1, 2, 3 }, default, CancellationToken.None));

        Assert.Contains(manifest.Key, intoFolder.Message, StringComparison.Ordinal);
        Assert.Contains(manifest.Key, intoFolderIfAbsent.Message, StringComparison.Ordinal);
        Assert.Contains("snapshots/vm/101", underFile.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries($"{store.Location}/tmp"));
    }

    [Fact]
    public async Task A_store_whose_directory_is_missing_is_empty_and_the_first_save_creates_it()
    {
        await using var store = await CreateStoreAsync();

        Assert.Empty(await ListAllAsync(store, ObjectKind.Snapshot));
        Assert.Empty(await ListAllAsync(store, ObjectKind.Config));
        Assert.False(Directory.Exists(store.Location));
        await store.SaveAsync(ObjectName.Config, new byte[] { 1 }, default, CancellationToken.None);
        Assert.True(Directory.Exists(store.Location));
    }

    [Fact]
    public async Task Object_lock_is_refused_with_a_message_naming_the_store()
    {
        await using var store = await CreateStoreAsync();

        var e = await Assert.ThrowsAsync<NotSupportedException>(async () =>
            await store.ExtendRetentionAsync(ObjectName.Config, DateTimeOffset.UtcNow, ObjectLockMode.Governance, CancellationToken.None));

        Assert.Contains(store.Location, e.Message, StringComparison.Ordinal);
        Assert.Equal(ObjectStoreCapabilities.AtomicIfAbsent, store.Capabilities);
    }
}
