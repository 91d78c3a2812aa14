using Engine.Blocks.Native;
using Microsoft.Win32.SafeHandles;

namespace Engine.Tests.Shared;

/// <summary>open(2) with O_DIRECT, which .NET's file APIs cannot ask for: how PVE opens its snapshot-access files.</summary>
internal static class DirectOpen
{
    public static SafeFileHandle ReadWrite(string path) => OpenDirect(path, LibC.O_RDWR, "O_RDWR|O_DIRECT");

    public static SafeFileHandle ReadOnly(string path) => OpenDirect(path, LibC.O_RDONLY, "O_RDONLY|O_DIRECT");

    /// <summary>Whether the descriptor has O_DIRECT, from /proc/self/fdinfo.</summary>
    public static bool IsDirect(SafeFileHandle handle)
    {
        foreach (var line in File.ReadLines($"/proc/self/fdinfo/{handle.DangerousGetHandle()}"))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                return (Convert.ToInt32(line["flags:".Length..].Trim(), 8) & LibC.O_DIRECT) != 0;
            }
        }

        return false;
    }

    private static SafeFileHandle OpenDirect(string path, int access, string what)
    {
        var handle = LibC.TryOpen(path, access | LibC.O_DIRECT, 0, out var errno);
        Assert.True(handle is not null, $"open({path}, {what}) failed: errno {errno}");
        return handle;
    }
}
