using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>open(2) with O_DIRECT, which <see cref="File.OpenHandle"/> cannot ask for.</summary>
internal static partial class DirectOpen
{
    private const int ReadOnly = 0;
    private const int CloseOnExec = 0x80000;
    private const int Direct = 0x4000; // 040000

    public static SafeFileHandle OpenReadOnly(string path)
    {
        var fd = Open(path, ReadOnly | Direct | CloseOnExec);
        Assert.True(fd >= 0, $"open({path}, O_RDONLY|O_DIRECT) failed: errno {Marshal.GetLastPInvokeError()}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Whether the descriptor has O_DIRECT, from /proc/self/fdinfo.</summary>
    public static bool IsDirect(SafeFileHandle handle)
    {
        foreach (var line in File.ReadLines($"/proc/self/fdinfo/{handle.DangerousGetHandle()}"))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                return (Convert.ToInt32(line["flags:".Length..].Trim(), 8) & Direct) != 0;
            }
        }

        return false;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);
}
