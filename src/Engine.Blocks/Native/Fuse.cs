using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

/// <summary>
/// The part of libfuse 3's low-level API (<c>libfuse3.so.3</c>, Debian's <c>libfuse3-3</c>, 3.14 on Debian 12) that a
/// read-only file system of one file per disk needs. Declared by P/Invoke rather than built as a C shim in
/// <c>native/</c>, for the reasons <see cref="OpenSsl"/> gives: a dozen plain C functions and one table of callbacks,
/// which <c>[UnmanagedCallersOnly]</c> function pointers fill (no delegates to keep alive, NativeAOT safe), and lazy
/// binding, so a machine without libfuse3 only fails when a FUSE export is asked for. The structures are x86-64
/// Linux's (the only runtime identifier Engine publishes): see <see cref="FuseStructs"/>.
/// </summary>
internal static unsafe partial class Fuse
{
    private const string Library = "libfuse3.so.3";

    /// <summary><c>SEEK_DATA</c> of lseek(2).</summary>
    public const int SEEK_DATA = 3;

    /// <summary><c>SEEK_HOLE</c> of lseek(2).</summary>
    public const int SEEK_HOLE = 4;

    [LibraryImport(Library)]
    public static partial nint fuse_session_new(FuseArgs* args, FuseLowLevelOps* ops, nuint opsSize, nint userdata);

    /// <summary>Frees what option parsing allocated in <paramref name="args"/>.</summary>
    [LibraryImport(Library)]
    public static partial void fuse_opt_free_args(FuseArgs* args);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int fuse_session_mount(nint session, string mountPoint);

    /// <summary>Reads the next request into <paramref name="buffer"/> (allocating its memory on first use); 0 when the mount is gone, -errno on error.</summary>
    [LibraryImport(Library)]
    public static partial int fuse_session_receive_buf(nint session, FuseBuf* buffer);

    /// <summary>Dispatches a received request to its callback, on the calling thread.</summary>
    [LibraryImport(Library)]
    public static partial void fuse_session_process_buf(nint session, FuseBuf* buffer);

    [LibraryImport(Library)]
    public static partial int fuse_session_exited(nint session);

    [LibraryImport(Library)]
    public static partial void fuse_session_exit(nint session);

    /// <summary>Closes the session's /dev/fuse descriptor and detaches the mount (lazily, as root; via fusermount3 otherwise).</summary>
    [LibraryImport(Library)]
    public static partial void fuse_session_unmount(nint session);

    [LibraryImport(Library)]
    public static partial void fuse_session_destroy(nint session);

    [LibraryImport(Library)]
    public static partial nint fuse_req_userdata(nint request);

    [LibraryImport(Library)]
    public static partial int fuse_reply_err(nint request, int errno);

    [LibraryImport(Library)]
    public static partial int fuse_reply_entry(nint request, FuseEntryParam* entry);

    [LibraryImport(Library)]
    public static partial int fuse_reply_attr(nint request, Stat* attributes, double timeout);

    [LibraryImport(Library)]
    public static partial int fuse_reply_open(nint request, FuseFileInfo* info);

    [LibraryImport(Library)]
    public static partial int fuse_reply_buf(nint request, byte* buffer, nuint size);

    [LibraryImport(Library)]
    public static partial int fuse_reply_lseek(nint request, long offset);

    [LibraryImport(Library)]
    public static partial nuint fuse_add_direntry(nint request, byte* buffer, nuint size, byte* name, Stat* attributes, long nextOffset);
}
