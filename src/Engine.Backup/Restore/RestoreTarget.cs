using Engine.Blocks;
using Engine.Blocks.Native;

namespace Engine.Backup.Restore;

/// <summary>
/// What a restore may write to: a block device in place, or a new file (an existing regular file only when asked to
/// overwrite it). Decided by what the path is, never by what it looks like (<c>/dev/…</c> may hold regular files).
/// </summary>
internal static class RestoreTarget
{
    /// <summary>Whether <paramref name="path"/> is a block device; otherwise a file may be created there.</summary>
    /// <exception cref="RestoreTargetException">It cannot be restored to.</exception>
    public static bool Check(string path, bool overwrite)
    {
        var type = RepositoryCalls.FileType(path, out var errno);
        if (type == Statx.BlockDevice)
        {
            return true;
        }

        if (type < 0 && errno == Errno.ENOENT)
        {
            var folder = Path.GetDirectoryName(Path.GetFullPath(path));
            return folder is null || Directory.Exists(folder) ? false : throw new RestoreTargetException(path, $"{path}: the folder {folder} does not exist");
        }

        if (type < 0)
        {
            throw new RestoreTargetException(path, RepositoryCalls.Error(errno, "stat", path).Message);
        }

        if (type != Statx.RegularFile)
        {
            throw new RestoreTargetException(path, $"{path} exists and is neither a regular file nor a block device");
        }

        return overwrite ? false : throw new RestoreTargetException(path, $"{path} already exists; not overwriting it (use --force to replace it)");
    }

    /// <summary>Renames the finished temporary file to the target; without <paramref name="overwrite"/> never over a file that appeared meanwhile.</summary>
    public static void MoveIntoPlace(string temporary, string path, bool overwrite)
    {
        try
        {
            File.Move(temporary, path, overwrite);
        }
        catch (IOException) when (!overwrite && File.Exists(path))
        {
            throw new RestoreTargetException(path, $"{path} appeared during the restore; not overwriting it (use --force to replace it)");
        }
    }
}
