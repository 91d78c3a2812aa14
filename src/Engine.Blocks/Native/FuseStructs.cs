using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

#pragma warning disable SA1307, SA1310, CA1051, SA1401 // C field names and layouts, kept as <fuse_lowlevel.h> spells them

/// <summary>The C layouts <see cref="Fuse"/> passes: libfuse 3.14's headers on x86-64 Linux.</summary>
internal static class FuseStructs
{
    /// <summary><c>S_IFDIR</c>.</summary>
    public const uint S_IFDIR = 0x4000;

    /// <summary><c>S_IFREG</c>.</summary>
    public const uint S_IFREG = 0x8000;
}

/// <summary><c>struct fuse_args</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseArgs
{
    public int argc;
    public byte** argv;
    public int allocated;
}

/// <summary><c>struct stat</c> of x86-64 Linux (144 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Stat
{
    public ulong st_dev;
    public ulong st_ino;
    public ulong st_nlink;
    public uint st_mode;
    public uint st_uid;
    public uint st_gid;
    public int pad0;
    public ulong st_rdev;
    public long st_size;
    public long st_blksize;
    public long st_blocks;
    public long st_atime;
    public long st_atime_nsec;
    public long st_mtime;
    public long st_mtime_nsec;
    public long st_ctime;
    public long st_ctime_nsec;
    public long reserved0;
    public long reserved1;
    public long reserved2;
}

/// <summary><c>struct fuse_buf</c>: one request's buffer, which libfuse allocates with malloc on first use.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseBuf
{
    public nuint size;
    public int flags;
    public void* mem;
    public int fd;
    public long pos;
}

/// <summary><c>struct fuse_entry_param</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseEntryParam
{
    public ulong ino;
    public ulong generation;
    public Stat attr;
    public double attr_timeout;
    public double entry_timeout;
}

/// <summary><c>struct fuse_file_info</c>; the bit fields after <c>flags</c> are one 32-bit word.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseFileInfo
{
    /// <summary><c>direct_io</c>: reads bypass the page cache and arrive as the reader's requests.</summary>
    public const uint DirectIo = 1 << 1;

    /// <summary><c>keep_cache</c>: cached pages stay valid across opens (the content never changes).</summary>
    public const uint KeepCache = 1 << 2;

    public int flags;
    public uint bits;
    public uint padding2;
    public ulong fh;
    public ulong lock_owner;
    public uint poll_events;
}

/// <summary><c>struct fuse_conn_info</c> (its head; libfuse owns the memory).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseConnInfo
{
    public uint proto_major;
    public uint proto_minor;
    public uint max_write;
    public uint max_read;
    public uint max_readahead;
    public uint capable;
    public uint want;
    public uint max_background;
    public uint congestion_threshold;
    public uint time_gran;
}

/// <summary>
/// <c>struct fuse_lowlevel_ops</c> of libfuse 3.14: 44 function pointers in header order. Only the ones a read-only
/// file needs are named; a null entry makes libfuse answer the request itself (ENOSYS, or its default).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseLowLevelOps
{
    public const int Count = 44;

    public nint init;
    public nint destroy;
    public nint lookup;
    public nint forget;
    public nint getattr;
    public nint setattr;
    public nint readlink;
    public nint mknod;
    public nint mkdir;
    public nint unlink;
    public nint rmdir;
    public nint symlink;
    public nint rename;
    public nint link;
    public nint open;
    public nint read;
    public nint write;
    public nint flush;
    public nint release;
    public nint fsync;
    public nint opendir;
    public nint readdir;
    public nint releasedir;
    public nint fsyncdir;
    public nint statfs;
    public nint setxattr;
    public nint getxattr;
    public nint listxattr;
    public nint removexattr;
    public nint access;
    public nint create;
    public nint getlk;
    public nint setlk;
    public nint bmap;
    public nint ioctl;
    public nint poll;
    public nint write_buf;
    public nint retrieve_reply;
    public nint forget_multi;
    public nint flock;
    public nint fallocate;
    public nint readdirplus;
    public nint copy_file_range;
    public nint lseek;
}
