using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Repository.Chunks;

/// <summary>
/// The <c>flock</c> on <c>chunks/.lock</c> that closes the race between a writer touching a chunk and garbage
/// collection unlinking it: writers hold it shared while they test, touch or rename a chunk; the sweep holds it
/// exclusively while it re-checks and unlinks. Each holder opens its own descriptor, because flock belongs to the open
/// file description: two threads sharing one descriptor would release each other's lock.
/// </summary>
internal readonly struct ChunkLock : IDisposable
{
    private readonly SafeFileHandle _handle;

    private ChunkLock(SafeFileHandle handle) => _handle = handle;

    /// <summary>Blocks until the shared lock is held.</summary>
    public static ChunkLock Shared(string path) => Take(path, LibC.LOCK_SH);

    /// <summary>Blocks until the exclusive lock is held.</summary>
    public static ChunkLock Exclusive(string path) => Take(path, LibC.LOCK_EX);

    /// <summary>Releases the lock (closing the descriptor drops it).</summary>
    public void Dispose() => _handle?.Dispose();

    private static ChunkLock Take(string path, int operation)
    {
        var handle = RepositoryCalls.OpenOrThrow(path, LibC.O_RDWR | LibC.O_CREAT, RepositoryFiles.PrivateFileMode);
        try
        {
            RepositoryCalls.Lock(handle, operation, path);
            return new ChunkLock(handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}
