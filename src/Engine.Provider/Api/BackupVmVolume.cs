using Engine.Sources;
using Microsoft.Win32.SafeHandles;

namespace Engine.Provider.Api;

/// <summary>One entry of <c>backup_vm</c>'s <c>$volumes</c>: the device's snapshot access over NBD or as a file handle.</summary>
public sealed class BackupVmVolume
{
    /// <summary>Size in bytes, when PVE passes it.</summary>
    public long? Size { get; init; }

    /// <summary><c>nbd-path</c>: the Unix socket exporting the device under its device name (mechanism <c>nbd</c>).</summary>
    public string? NbdPath { get; init; }

    /// <summary><c>file-handle</c>: the snapshot access descriptor (mechanism <c>file-handle</c>).</summary>
    public SafeFileHandle? FileHandle { get; init; }

    /// <summary><c>next-dirty-region</c> as a sequence; required with a file handle and a bitmap.</summary>
    public IAsyncEnumerable<SourceRange>? NextDirtyRegion { get; init; }

    /// <summary><c>bitmap-mode</c>.</summary>
    public BitmapMode BitmapMode { get; init; }

    /// <summary><c>bitmap-name</c>; null when no bitmap is used.</summary>
    public string? BitmapName { get; init; }
}
