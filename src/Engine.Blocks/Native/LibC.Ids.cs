using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

/// <summary>Who the process runs as.</summary>
internal static partial class LibC
{
    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();
}
