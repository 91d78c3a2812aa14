using System.Runtime.InteropServices;
using Engine.Blocks.Native;

namespace Engine.Blocks.Fuse;

/// <summary>
/// The <c>fuse_lowlevel_ops</c> of <see cref="FuseBlockFile"/>: <c>[UnmanagedCallersOnly]</c> functions that find
/// their mount through the session's user data and hand the request over. Nothing may unwind into libfuse: an
/// exception becomes an errno reply, and the request is always answered exactly once.
/// </summary>
internal static unsafe class FuseCallbacks
{
    /// <summary>Fills the operation table with the callbacks a read-only file needs; the rest stay null (libfuse's defaults).</summary>
    public static void Fill(FuseLowLevelOps* ops)
    {
        ops->lookup = (nint)(delegate* unmanaged<nint, ulong, byte*, void>)&Lookup;
        ops->getattr = (nint)(delegate* unmanaged<nint, ulong, FuseFileInfo*, void>)&GetAttributes;
        ops->open = (nint)(delegate* unmanaged<nint, ulong, FuseFileInfo*, void>)&Open;
        ops->read = (nint)(delegate* unmanaged<nint, ulong, nuint, long, FuseFileInfo*, void>)&Read;
        ops->readdir = (nint)(delegate* unmanaged<nint, ulong, nuint, long, FuseFileInfo*, void>)&ReadDirectory;
        ops->lseek = (nint)(delegate* unmanaged<nint, ulong, long, int, FuseFileInfo*, void>)&Seek;
    }

    // The static lambdas below capture nothing, so each is one cached delegate: a request allocates nothing here.
    [UnmanagedCallersOnly]
    private static void Lookup(nint request, ulong parent, byte* name) =>
        Serve(request, new(parent, (nint)name, 0, 0), "lookup", static (file, request, call) => file.Lookup(request, call.Inode, (byte*)call.Pointer));

    [UnmanagedCallersOnly]
    private static void GetAttributes(nint request, ulong inode, FuseFileInfo* info) =>
        Serve(request, new(inode, 0, 0, 0), "getattr", static (file, request, call) => file.GetAttributes(request, call.Inode));

    [UnmanagedCallersOnly]
    private static void Open(nint request, ulong inode, FuseFileInfo* info) =>
        Serve(request, new(inode, (nint)info, 0, 0), "open", static (file, request, call) => file.Open(request, call.Inode, (FuseFileInfo*)call.Pointer));

    [UnmanagedCallersOnly]
    private static void Read(nint request, ulong inode, nuint size, long offset, FuseFileInfo* info) =>
        Serve(request, new(inode, 0, offset, size), "read", static (file, request, call) => file.Read(request, call.Inode, call.Size, call.Offset));

    [UnmanagedCallersOnly]
    private static void ReadDirectory(nint request, ulong inode, nuint size, long offset, FuseFileInfo* info) =>
        Serve(request, new(inode, 0, offset, size), "readdir", static (file, request, call) => file.ReadDirectory(request, call.Inode, call.Size, call.Offset));

    [UnmanagedCallersOnly]
    private static void Seek(nint request, ulong inode, long offset, int whence, FuseFileInfo* info) =>
        Serve(request, new(inode, 0, offset, (nuint)whence), "lseek", static (file, request, call) => file.Seek(request, call.Offset, (int)call.Size));

    private static void Serve(nint request, Call call, string operation, Action<FuseBlockFile, nint, Call> handler)
    {
        FuseBlockFile? file = null;
        try
        {
            file = FuseBlockFile.Of(request);
            handler(file, request, call);
        }
#pragma warning disable CA1031 // see the class comment
        catch (Exception ex)
#pragma warning restore CA1031
        {
            if (file is null)
            {
                _ = Native.Fuse.fuse_reply_err(request, Errno.EIO);
            }
            else
            {
                file.Fail(request, $"{operation} {call.Offset}+{call.Size}", ex);
            }
        }
    }

    /// <summary>A request's arguments in one shape: what each operation does not use is zero.</summary>
    private readonly record struct Call(ulong Inode, nint Pointer, long Offset, nuint Size);
}
