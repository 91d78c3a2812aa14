using System.Runtime.InteropServices;

namespace Engine.Backup.Native;

/// <summary>
/// <c>syncfs(2)</c> on the file system holding a directory: one call makes every chunk written so far durable,
/// instead of one fdatasync per chunk file.
/// </summary>
internal static partial class FileSystemSync
{
    private const int O_RDONLY = 0;
    private const int O_DIRECTORY = 0x10000;
    private const int O_CLOEXEC = 0x80000;

    /// <summary>Flushes the file system of <paramref name="directory"/> to stable storage.</summary>
    /// <exception cref="IOException">The directory cannot be opened or the sync failed (the errno is in the message).</exception>
    public static void Sync(string directory)
    {
        var fd = Open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw Failure("open", directory);
        }

        try
        {
            if (SyncFs(fd) != 0)
            {
                throw Failure("syncfs", directory);
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private static IOException Failure(string call, string directory)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call} {directory}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
