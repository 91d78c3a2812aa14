using System.Runtime.InteropServices;
using Engine.Blocks;
using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Backup.Containers;

/// <summary>
/// A container archive's rules over <see cref="LibC"/>, to read and recreate files exactly: never following a
/// symbolic link, every extended attribute, times to the nanosecond, and errors that name the call and the path.
/// </summary>
internal static unsafe class ContainerCalls
{
    /// <summary><c>lstat</c>: the file itself, never what a symlink points at. False (with the errno) on failure.</summary>
    public static bool TryLStat(string path, out Statx stat, out int errno) =>
        LibC.TryLStat(path, LibC.STATX_BASIC_STATS, out stat, out errno);

    /// <summary><c>lstat</c>, throwing on failure.</summary>
    public static Statx LStat(string path) =>
        TryLStat(path, out var stat, out var errno) ? stat : throw Error(errno, "lstat", path);

    /// <summary>
    /// Every extended attribute of the file itself (not a symlink's target), in the order the filesystem lists them.
    /// A filesystem without xattr support yields none.
    /// </summary>
    public static List<ContainerXattr> ListXattrs(string path)
    {
        var result = new List<ContainerXattr>();
        var names = ReadSized(path, null, static (p, _, buffer, size) => LibC.LListXattr(p, buffer, size), "llistxattr");
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
                var value = ReadSized(path, name, static (p, n, buffer, size) => LibC.LGetXattr(p, n!, buffer, size), "lgetxattr");
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
            if (LibC.LSetXattr(path, name, pointer, (nuint)value.Length, 0) != 0)
            {
                throw Error(LibC.LastErrno, $"lsetxattr {name}", path);
            }
        }
    }

    /// <summary>The target of a symlink, verbatim.</summary>
    public static string ReadLinkTarget(string path)
    {
        var bytes = ReadSized(path, null, static (p, _, buffer, size) =>
        {
            var length = LibC.ReadLink(p, buffer, size);
            // readlink truncates silently: a result filling the buffer may have been cut, so ask for more room.
            if (length >= 0 && (nuint)length == size)
            {
                Marshal.SetLastPInvokeError(Errno.ERANGE);
                return -1;
            }

            return length;
        }, "readlink");
        return bytes is null ? throw Error(Errno.ENOENT, "readlink", path) : System.Text.Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Opens a file for reading without following a symlink at the last component.</summary>
    public static SafeFileHandle OpenRead(string path)
    {
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
        return fd < 0 ? throw Error(LibC.LastErrno, "open", path) : new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Creates a new regular file (failing if anything exists there), write-only.</summary>
    public static SafeFileHandle CreateExclusive(string path, int mode)
    {
        var fd = LibC.Open(path, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, mode);
        return fd < 0 ? throw Error(LibC.LastErrno, "create", path) : new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// <c>lseek</c> with SEEK_DATA or SEEK_HOLE; -1 when there is no more data (Errno.ENXIO), and the whole rest counted as
    /// data when the filesystem does not support the query.
    /// </summary>
    public static long Seek(SafeFileHandle handle, long offset, int whence, string path)
    {
        var result = LibC.LSeek(handle, offset, whence);
        if (result >= 0)
        {
            return result;
        }

        var errno = LibC.LastErrno;
        return errno == Errno.ENXIO ? -1 : throw Error(errno, whence == LibC.SEEK_DATA ? "lseek(SEEK_DATA)" : "lseek(SEEK_HOLE)", path);
    }

    public static void Truncate(SafeFileHandle handle, long length, string path)
    {
        if (LibC.FTruncate(handle, length) != 0)
        {
            throw Error(LibC.LastErrno, "ftruncate", path);
        }
    }

    /// <summary>Creates a directory; false when something already exists there.</summary>
    public static bool TryMakeDirectory(string path, int mode)
    {
        if (LibC.MkDir(path, mode) == 0)
        {
            return true;
        }

        var errno = LibC.LastErrno;
        return errno == Errno.EEXIST ? false : throw Error(errno, "mkdir", path);
    }

    /// <summary>Creates a device node, FIFO or socket; <paramref name="type"/> is the S_IF* file type.</summary>
    public static void MakeNode(string path, int type, int mode, int major, int minor)
    {
        if (LibC.MkNod(path, type | mode, LibC.MakeDevice((uint)major, (uint)minor)) != 0)
        {
            throw Error(LibC.LastErrno, "mknod", path);
        }
    }

    public static void MakeSymlink(string target, string path)
    {
        if (LibC.SymLink(target, path) != 0)
        {
            throw Error(LibC.LastErrno, "symlink", path);
        }
    }

    public static void MakeHardLink(string existing, string path)
    {
        if (LibC.Link(existing, path) != 0)
        {
            throw Error(LibC.LastErrno, $"link to {existing}", path);
        }
    }

    /// <summary>Changes the owner of the file itself (a symlink, not its target).</summary>
    public static void ChangeOwner(string path, long uid, long gid)
    {
        if (LibC.LChown(path, (uint)uid, (uint)gid) != 0)
        {
            throw Error(LibC.LastErrno, "lchown", path);
        }
    }

    public static void ChangeMode(string path, int mode)
    {
        if (LibC.ChMod(path, mode) != 0)
        {
            throw Error(LibC.LastErrno, "chmod", path);
        }
    }

    /// <summary>Sets access and modification time of the file itself to <paramref name="modificationTimeNs"/>.</summary>
    public static void SetTimes(string path, long modificationTimeNs)
    {
        var times = stackalloc TimeSpec[2];
        times[0] = TimeSpec.FromNanoseconds(modificationTimeNs);
        times[1] = times[0];
        if (LibC.UTimeNsAt(LibC.CurrentDirectory, path, times, LibC.AT_SYMLINK_NOFOLLOW) != 0)
        {
            throw Error(LibC.LastErrno, "utimensat", path);
        }
    }

    /// <summary>Owner, mode, xattrs and mtime of an open file, in the order a restore needs (see the path-based calls).</summary>
    public static void ChangeOwner(SafeFileHandle handle, long uid, long gid, string path)
    {
        if (LibC.FChown(handle, (uint)uid, (uint)gid) != 0)
        {
            throw Error(LibC.LastErrno, "fchown", path);
        }
    }

    public static void ChangeMode(SafeFileHandle handle, int mode, string path)
    {
        if (LibC.FChMod(handle, mode) != 0)
        {
            throw Error(LibC.LastErrno, "fchmod", path);
        }
    }

    public static void SetXattr(SafeFileHandle handle, string name, ReadOnlySpan<byte> value, string path)
    {
        fixed (byte* pointer = value)
        {
            if (LibC.FSetXattr(handle, name, pointer, (nuint)value.Length, 0) != 0)
            {
                throw Error(LibC.LastErrno, $"fsetxattr {name}", path);
            }
        }
    }

    public static void SetTimes(SafeFileHandle handle, long modificationTimeNs, string path)
    {
        var times = stackalloc TimeSpec[2];
        times[0] = TimeSpec.FromNanoseconds(modificationTimeNs);
        times[1] = times[0];
        if (LibC.FUTimeNs(handle, times) != 0)
        {
            throw Error(LibC.LastErrno, "futimens", path);
        }
    }

    public static IOException Error(int errno, string operation, string path) =>
        new($"{operation} {path}: {LibC.StrError(errno)} (errno {errno})", errno);

    /// <summary>
    /// Calls a "fill this buffer" function, growing the buffer on Errno.ERANGE. Null when the attribute or list is absent
    /// (Errno.ENODATA, ENOTSUP).
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

            var errno = LibC.LastErrno;
            if (errno == Errno.ERANGE && size < (64 << 20))
            {
                size *= 4;
                continue;
            }

            if (errno is Errno.ENODATA or Errno.EOPNOTSUPP)
            {
                return null;
            }

            throw Error(errno, name is null ? operation : $"{operation} {name}", path);
        }
    }

    private delegate nint SizedCall(string path, string? name, byte* buffer, nuint size);
}
