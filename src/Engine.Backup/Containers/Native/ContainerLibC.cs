using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Containers.Native;

/// <summary>
/// The Linux calls that read and recreate a container's files exactly: <c>statx</c> without following links, the
/// <c>l*xattr</c> family, <c>readlink</c>, <c>mknod</c>, <c>lchown</c> and <c>utimensat</c> with nanoseconds. Paths are
/// marshalled as UTF-8.
/// </summary>
internal static unsafe partial class ContainerLibC
{
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_BASIC_STATS = 0x7FF;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;

    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    public const int ENOENT = 2;
    public const int EEXIST = 17;
    public const int ENODATA = 61;
    public const int ERANGE = 34;
    public const int ENXIO = 6;
    public const int EINVAL = 22;
    public const int EOPNOTSUPP = 95;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int dirfd, string path, int flags, uint mask, out ContainerStatx buffer);

    [LibraryImport("libc", EntryPoint = "llistxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint LListXattr(string path, byte* list, nuint size);

    [LibraryImport("libc", EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint LGetXattr(string path, string name, byte* value, nuint size);

    [LibraryImport("libc", EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LSetXattr(string path, string name, byte* value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint ReadLink(string path, byte* buffer, nuint size);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(SafeFileHandle fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncate(SafeFileHandle fd, long length);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkDir(string path, int mode);

    [LibraryImport("libc", EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkNod(string path, int mode, ulong device);

    [LibraryImport("libc", EntryPoint = "symlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SymLink(string target, string path);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string path);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LChown(string path, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ChMod(string path, int mode);

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int UTimeNsAt(int dirfd, string path, TimeSpec* times, int flags);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static partial int FChown(SafeFileHandle fd, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    private static partial int FChMod(SafeFileHandle fd, int mode);

    [LibraryImport("libc", EntryPoint = "fsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FSetXattr(SafeFileHandle fd, string name, byte* value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "futimens", SetLastError = true)]
    private static partial int FUTimeNs(SafeFileHandle fd, TimeSpec* times);

    private static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary><c>lstat</c>: the file itself, never what a symlink points at. False (with the errno) on failure.</summary>
    public static bool TryLStat(string path, out ContainerStatx stat, out int errno)
    {
        if (StatX(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out stat) == 0)
        {
            errno = 0;
            return true;
        }

        errno = LastErrno;
        return false;
    }

    /// <summary><c>lstat</c>, throwing on failure.</summary>
    public static ContainerStatx LStat(string path) =>
        TryLStat(path, out var stat, out var errno) ? stat : throw Error(errno, "lstat", path);

    /// <summary>
    /// Every extended attribute of the file itself (not a symlink's target), in the order the filesystem lists them.
    /// A filesystem without xattr support yields none.
    /// </summary>
    public static List<ContainerXattr> ListXattrs(string path)
    {
        var result = new List<ContainerXattr>();
        var names = ReadSized(path, null, static (p, _, buffer, size) => LListXattr(p, buffer, size), "llistxattr");
        if (names is null)
        {
            return result;
        }

        var start = 0;
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i] != 0)
            {
                continue;
            }

            if (i > start)
            {
                var name = System.Text.Encoding.UTF8.GetString(names, start, i - start);
                var value = ReadSized(path, name, static (p, n, buffer, size) => LGetXattr(p, n!, buffer, size), "lgetxattr");
                if (value is not null)
                {
                    result.Add(new ContainerXattr(name, value));
                }
            }

            start = i + 1;
        }

        return result;
    }

    /// <summary>Sets an extended attribute on the file itself (not a symlink's target).</summary>
    public static void SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* pointer = value)
        {
            // A zero-length span may give a null pointer; the kernel accepts null with size 0.
            if (LSetXattr(path, name, pointer, (nuint)value.Length, 0) != 0)
            {
                throw Error(LastErrno, $"lsetxattr {name}", path);
            }
        }
    }

    /// <summary>The target of a symlink, verbatim.</summary>
    public static string ReadLinkTarget(string path)
    {
        var bytes = ReadSized(path, null, static (p, _, buffer, size) =>
        {
            var length = ReadLink(p, buffer, size);
            // readlink truncates silently: a result filling the buffer may have been cut, so ask for more room.
            if (length >= 0 && (nuint)length == size)
            {
                Marshal.SetLastPInvokeError(ERANGE);
                return -1;
            }

            return length;
        }, "readlink");
        return bytes is null ? throw Error(ENOENT, "readlink", path) : System.Text.Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Opens a file for reading without following a symlink at the last component.</summary>
    public static SafeFileHandle OpenRead(string path)
    {
        var fd = Open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
        return fd < 0 ? throw Error(LastErrno, "open", path) : new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Creates a new regular file (failing if anything exists there), write-only.</summary>
    public static SafeFileHandle CreateExclusive(string path, int mode)
    {
        var fd = Open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        return fd < 0 ? throw Error(LastErrno, "create", path) : new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// <c>lseek</c> with SEEK_DATA or SEEK_HOLE; -1 when there is no more data (ENXIO), and the whole rest counted as
    /// data when the filesystem does not support the query.
    /// </summary>
    public static long Seek(SafeFileHandle handle, long offset, int whence, string path)
    {
        var result = LSeek(handle, offset, whence);
        if (result >= 0)
        {
            return result;
        }

        var errno = LastErrno;
        return errno == ENXIO ? -1 : throw Error(errno, whence == SEEK_DATA ? "lseek(SEEK_DATA)" : "lseek(SEEK_HOLE)", path);
    }

    public static void Truncate(SafeFileHandle handle, long length, string path)
    {
        if (FTruncate(handle, length) != 0)
        {
            throw Error(LastErrno, "ftruncate", path);
        }
    }

    /// <summary>Creates a directory; false when something already exists there.</summary>
    public static bool TryMakeDirectory(string path, int mode)
    {
        if (MkDir(path, mode) == 0)
        {
            return true;
        }

        var errno = LastErrno;
        return errno == EEXIST ? false : throw Error(errno, "mkdir", path);
    }

    /// <summary>Creates a device node, FIFO or socket; <paramref name="type"/> is the S_IF* file type.</summary>
    public static void MakeNode(string path, int type, int mode, int major, int minor)
    {
        if (MkNod(path, type | mode, MakeDevice((uint)major, (uint)minor)) != 0)
        {
            throw Error(LastErrno, "mknod", path);
        }
    }

    public static void MakeSymlink(string target, string path)
    {
        if (SymLink(target, path) != 0)
        {
            throw Error(LastErrno, "symlink", path);
        }
    }

    public static void MakeHardLink(string existing, string path)
    {
        if (Link(existing, path) != 0)
        {
            throw Error(LastErrno, $"link to {existing}", path);
        }
    }

    /// <summary>Changes the owner of the file itself (a symlink, not its target).</summary>
    public static void ChangeOwner(string path, long uid, long gid)
    {
        if (LChown(path, (uint)uid, (uint)gid) != 0)
        {
            throw Error(LastErrno, "lchown", path);
        }
    }

    public static void ChangeMode(string path, int mode)
    {
        if (ChMod(path, mode) != 0)
        {
            throw Error(LastErrno, "chmod", path);
        }
    }

    /// <summary>Sets access and modification time of the file itself to <paramref name="modificationTimeNs"/>.</summary>
    public static void SetTimes(string path, long modificationTimeNs)
    {
        var times = stackalloc TimeSpec[2];
        times[0] = TimeSpec.FromNanoseconds(modificationTimeNs);
        times[1] = times[0];
        if (UTimeNsAt(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) != 0)
        {
            throw Error(LastErrno, "utimensat", path);
        }
    }

    /// <summary>Owner, mode, xattrs and mtime of an open file, in the order a restore needs (see the path-based calls).</summary>
    public static void ChangeOwner(SafeFileHandle handle, long uid, long gid, string path)
    {
        if (FChown(handle, (uint)uid, (uint)gid) != 0)
        {
            throw Error(LastErrno, "fchown", path);
        }
    }

    public static void ChangeMode(SafeFileHandle handle, int mode, string path)
    {
        if (FChMod(handle, mode) != 0)
        {
            throw Error(LastErrno, "fchmod", path);
        }
    }

    public static void SetXattr(SafeFileHandle handle, string name, ReadOnlySpan<byte> value, string path)
    {
        fixed (byte* pointer = value)
        {
            if (FSetXattr(handle, name, pointer, (nuint)value.Length, 0) != 0)
            {
                throw Error(LastErrno, $"fsetxattr {name}", path);
            }
        }
    }

    public static void SetTimes(SafeFileHandle handle, long modificationTimeNs, string path)
    {
        var times = stackalloc TimeSpec[2];
        times[0] = TimeSpec.FromNanoseconds(modificationTimeNs);
        times[1] = times[0];
        if (FUTimeNs(handle, times) != 0)
        {
            throw Error(LastErrno, "futimens", path);
        }
    }

    /// <summary>glibc's <c>makedev</c>.</summary>
    public static ulong MakeDevice(uint major, uint minor) =>
        ((ulong)(major & 0xFFFFF000) << 32) | ((ulong)(major & 0xFFF) << 8) | ((ulong)(minor & 0xFFFFFF00) << 12) | (minor & 0xFF);

    public static IOException Error(int errno, string operation, string path) =>
        new($"{operation} {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);

    /// <summary>
    /// Calls a "fill this buffer" function, growing the buffer on ERANGE. Null when the attribute or list is absent
    /// (ENODATA, ENOTSUP).
    /// </summary>
    private static byte[]? ReadSized(string path, string? name, SizedCall call, string operation)
    {
        var size = 256;
        while (true)
        {
            var buffer = new byte[size];
            nint length;
            fixed (byte* pointer = buffer)
            {
                length = call(path, name, pointer, (nuint)buffer.Length);
            }

            if (length >= 0)
            {
                return buffer.AsSpan(0, (int)length).ToArray();
            }

            var errno = LastErrno;
            if (errno == ERANGE && size < (64 << 20))
            {
                size *= 4;
                continue;
            }

            if (errno is ENODATA or EOPNOTSUPP)
            {
                return null;
            }

            throw Error(errno, name is null ? operation : $"{operation} {name}", path);
        }
    }

    private delegate nint SizedCall(string path, string? name, byte* buffer, nuint size);

    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct TimeSpec(long Seconds, long Nanoseconds)
    {
        /// <summary>Floor division, so times before 1970 keep a nanosecond part in 0..999999999.</summary>
        public static TimeSpec FromNanoseconds(long nanoseconds)
        {
            var seconds = Math.DivRem(nanoseconds, 1_000_000_000L, out var rest);
            return rest < 0 ? new TimeSpec(seconds - 1, rest + 1_000_000_000L) : new TimeSpec(seconds, rest);
        }
    }
}
