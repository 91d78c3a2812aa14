using Engine.Provider.Api;

namespace ImageFiles;

/// <summary>
/// Tells Engine's protocol host what this provider's archive names mean. The host asks it when PVE hands a name to a
/// process that did not choose it (<c>backup_container</c> runs in a fresh process inside the container's namespaces).
/// </summary>
internal sealed class ArchiveNames : IArchiveNaming
{
    /// <summary>The one instance; the naming has no state.</summary>
    public static ArchiveNames Instance { get; } = new();

    /// <inheritdoc />
    public ArchiveIdentity Parse(string archiveName)
    {
        var name = ArchiveName.Parse(archiveName);
        return new ArchiveIdentity(name.Vmid, name.Type == "ct" ? GuestType.Lxc : GuestType.Qemu, name.Time);
    }
}
