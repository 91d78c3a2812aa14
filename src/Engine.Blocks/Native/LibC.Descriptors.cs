using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

/// <summary>
/// <c>fcntl</c> with an int argument, for files and sockets alike (hence <see cref="SafeHandle"/>): status flags
/// (F_GETFL/F_SETFL) and descriptor flags (F_GETFD/F_SETFD).
/// </summary>
internal static partial class LibC
{
    public const int F_GETFD = 1;
    public const int F_SETFD = 2;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int FD_CLOEXEC = 1;
    public const int O_ACCMODE = 3;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(SafeHandle fd, int command, int argument);

    /// <summary>Sets or clears FD_CLOEXEC: whether the descriptor leaks into the processes started next.</summary>
    public static bool SetCloseOnExec(SafeHandle fd, bool value)
    {
        var flags = Fcntl(fd, F_GETFD, 0);
        return flags >= 0 && Fcntl(fd, F_SETFD, value ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC) >= 0;
    }

    /// <summary>Clears O_NONBLOCK so that a thread can block in recv/send. Returns 0 or -errno.</summary>
    public static int MakeBlocking(SafeHandle fd)
    {
        var flags = Fcntl(fd, F_GETFL, 0);
        if (flags < 0)
        {
            return -LastErrno;
        }

        return (flags & O_NONBLOCK) == 0 || Fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 ? 0 : -LastErrno;
    }
}
