using Engine.Backup.Repository;

namespace Engine.Provider.Api;

/// <summary>Archive names and the volume names PVE hands back on restore.</summary>
public static class ArchiveNames
{
    /// <summary>Whether <paramref name="name"/> is a valid <c>archive-name</c>: <c>[A-Za-z0-9_.+/:-]+</c>.</summary>
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '.' or '+' or '/' or ':' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The snapshot a volume name refers to: the archive name itself (<c>vm/100/2026-11-26T06:30:00Z</c>) or that
    /// with a storage prefix such as <c>backup/</c>, as a storage plugin's volume names have.
    /// </summary>
    /// <exception cref="FormatException">The last three path elements are not a snapshot id.</exception>
    public static SnapshotId ToSnapshotId(string volumeName)
    {
        ArgumentNullException.ThrowIfNull(volumeName);
        var end = volumeName.Length;
        var start = end;
        for (var slashes = 0; start > 0; start--)
        {
            if (volumeName[start - 1] == '/' && ++slashes == 3)
            {
                break;
            }
        }

        var tail = volumeName[start..end];
        if (!SnapshotId.TryParse(tail, out var id))
        {
            throw new FormatException($"volume '{volumeName}' does not name an Engine snapshot (TYPE/VMID/TIME)");
        }

        return id;
    }
}
