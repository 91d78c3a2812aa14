using Engine.Backup.Repository.Snapshots;
using Engine.Provider.Api;

namespace Engine.Provider.Repository;

/// <summary>
/// Engine's archive names: a guest's backup is the repository snapshot <c>TYPE/VMID/TIME</c>
/// (<c>vm/100/2026-11-26T06:30:00Z</c>), and a volume name PVE hands back on restore is that name, possibly behind a
/// storage prefix such as <c>backup/</c>.
/// </summary>
public sealed class SnapshotArchiveNaming : IArchiveNaming
{
    private SnapshotArchiveNaming()
    {
    }

    /// <summary>The one instance; the naming has no state.</summary>
    public static SnapshotArchiveNaming Instance { get; } = new();

    /// <inheritdoc />
    public ArchiveIdentity Parse(string archiveName)
    {
        var id = ToSnapshotId(archiveName);
        return new ArchiveIdentity(id.Vmid, id.Type == "ct" ? GuestType.Lxc : GuestType.Qemu, id.Time);
    }

    /// <summary>The snapshot id a guest of <paramref name="guestType"/> backed up at <paramref name="startTime"/> is stored under.</summary>
    /// <exception cref="ArgumentException"><paramref name="vmid"/> is not a guest id.</exception>
    public static SnapshotId ToSnapshotId(string vmid, GuestType guestType, DateTimeOffset startTime)
    {
        if (!SnapshotId.IsValidVmid(vmid))
        {
            throw new ArgumentException($"invalid guest id '{vmid}'", nameof(vmid));
        }

        return new SnapshotId(guestType == GuestType.Lxc ? "ct" : "vm", vmid, startTime);
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
