using System.Text;
using Engine.Blocks.Native;

namespace Engine.Blocks.Fuse;

/// <summary>
/// The mounts of this process's mount namespace (<c>/proc/self/mountinfo</c>), to find and detach a FUSE mount that a
/// crashed export left behind: its directory answers every access with ENOTCONN ("Transport endpoint is not
/// connected") until somebody unmounts it, so the next export could neither create nor mount it.
/// </summary>
internal static class MountTable
{
    private const string MountInfo = "/proc/self/mountinfo";

    /// <summary>The filesystem type of <see cref="FuseBlockFile"/>'s own mounts (<c>fuse.</c> and its subtype).</summary>
    public const string EngineFuseType = "fuse.engine";

    /// <summary>Whether <paramref name="path"/> (absolute) is a mount point.</summary>
    public static bool IsMountPoint(string path) => FileSystemType(path) is not null;

    /// <summary>
    /// The filesystem type (<c>ext4</c>, <c>nfs4</c>, <c>fuse.engine</c>) of the topmost mount at <paramref name="path"/>
    /// (absolute); null when nothing is mounted there.
    /// </summary>
    public static string? FileSystemType(string path)
    {
        string? type = null;
        foreach (var line in File.ReadLines(MountInfo))
        {
            // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": the fifth field is the mount point,
            // the first after the " - " separator the type. Later lines are mounted on top of earlier ones.
            var fields = line.Split(' ');
            if (fields.Length > 4 && string.Equals(Unescape(fields[4]), path, StringComparison.Ordinal))
            {
                var separator = Array.IndexOf(fields, "-", 5);
                type = separator > 0 && separator + 1 < fields.Length ? Unescape(fields[separator + 1]) : "unknown";
            }
        }

        return type;
    }

    /// <summary>
    /// Detaches whatever is mounted at <paramref name="path"/> (absolute) lazily: as root with umount2(MNT_DETACH),
    /// otherwise through <c>fusermount3 -u -z</c>, which may unmount the caller's own FUSE mounts.
    /// </summary>
    /// <exception cref="IOException">The mount stays.</exception>
    public static void Detach(string path)
    {
        if (LibC.umount2(path, LibC.MNT_DETACH) != 0)
        {
            var errno = LibC.LastErrno;
            using var fusermount = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("fusermount3", ["-u", "-z", path])
            {
                UseShellExecute = false,
                RedirectStandardError = true,
            });
            fusermount?.WaitForExit();
            if (IsMountPoint(path))
            {
                throw new IOException($"{path}: a stale mount is in the way and cannot be detached ({LibC.StrError(errno)}); run fusermount3 -u -z {path}");
            }
        }
    }

    // mountinfo writes space, tab, newline and backslash as \ooo octal escapes (all ASCII).
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var text = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && TryOctal(field.AsSpan(i + 1, 3), out var value))
            {
                text.Append((char)value);
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }

        return text.ToString();
    }

    private static bool TryOctal(ReadOnlySpan<char> digits, out byte value)
    {
        var result = 0;
        foreach (var digit in digits)
        {
            if (digit is < '0' or > '7')
            {
                value = 0;
                return false;
            }

            result = (result * 8) + (digit - '0');
        }

        value = (byte)result;
        return result <= byte.MaxValue;
    }
}
