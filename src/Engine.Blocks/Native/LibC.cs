using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Native;

/// <summary>
/// Every Linux call Engine makes beyond what .NET offers, in one place: one declaration per C function, split by area
/// into partial files (files, metadata, links, xattrs, locks, descriptors, sockets, mapping, devices, ids,
/// processes). Calls that take a descriptor the caller owns take the <see cref="SafeFileHandle"/> so that the
/// marshaller holds a reference for the duration of the call and a concurrent dispose can never let the number be
/// reused under us; only the socket hot path takes raw numbers, from a channel that holds that reference for its
/// whole life. Error numbers are <see cref="Errno"/>'s. Helpers that add domain rules (SCM_RIGHTS messages, the
/// repository's no-follow opening, a container restore's error messages) live with their domain and call these.
/// </summary>
internal static partial class LibC
{
    /// <summary><c>AT_FDCWD</c>: relative paths of the <c>*at</c> calls are resolved against the working directory.</summary>
    public const int AT_FDCWD = -100;

    /// <summary>
    /// <c>AT_FDCWD</c> as a handle, for the <c>*at</c> calls that also take real descriptors: one declaration serves
    /// both. It owns nothing, so disposing it (nobody should) would not close anything.
    /// </summary>
    public static readonly SafeFileHandle CurrentDirectory = new(AT_FDCWD, ownsHandle: false);

    /// <summary>The errno of the last failed call on this thread.</summary>
    public static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>strerror(3) text.</summary>
    public static string StrError(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
