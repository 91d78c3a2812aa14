using System.Text.Json;
using Engine.Provider.Api;

namespace Engine.Provider.Protocol;

/// <summary>The container methods.</summary>
public sealed partial class ProviderProtocolHost
{
    // Guests between backup_init and backup_cleanup in this process.
    private readonly HashSet<string> _guestsInBackup = new(StringComparer.Ordinal);

    private static BackupContainerInfo ReadContainerInfo(ProtocolParams info) => new()
    {
        Directory = info.OptionalString("directory"),
        Sources = info.OptionalStringArray("sources"),
        BackupUserId = info.Has("backup-user-id") ? info.OptionalInt64("backup-user-id") : null,
        FirewallConfig = info.OptionalString("firewall-config") ?? "",
        BandwidthLimit = info.OptionalInt64("bandwidth-limit"),
    };

    private async Task BackupContainerAsync(JsonElement id, ProtocolParams p, CancellationToken cancellationToken)
    {
        var vmid = p.RequiredString("vmid");
        if (!_guestsInBackup.Contains(vmid) && p.OptionalString("archive-name") is { } archive)
        {
            AdoptBackup(vmid, archive);
        }

        await _provider.BackupContainerAsync(vmid, p.OptionalString("guest-config") ?? "", p.OptionalStringArray("exclude-patterns"),
            ReadContainerInfo(p.OptionalObject("info")), cancellationToken).ConfigureAwait(false);
        _writer.Result(id, WriteNull);
    }

    /// <summary>
    /// PVE runs <c>backup_container</c> in a fork inside the container's namespaces, so the plugin sends it to a fresh
    /// process that never saw <c>backup_init</c>: the archive name says which backup it belongs to. What the name means
    /// is the provider's (<see cref="IArchiveNaming"/>); its own <c>backup_init</c> must name the same backup, or this
    /// process would write somewhere PVE does not know.
    /// </summary>
    private void AdoptBackup(string vmid, string archive)
    {
        var naming = _provider.ArchiveNaming;
        var wanted = naming.Parse(archive);
        var name = _provider.BackupInit(vmid, GuestType.Lxc, wanted.StartTime);
        if (!ArchiveNames.IsValid(name) || naming.Parse(name) != wanted)
        {
            throw new ProtocolException($"backup_container: archive-name '{archive}' is not the backup this provider would start now ('{name}')");
        }

        _guestsInBackup.Add(vmid);
    }

    private async Task RestoreContainerInitAsync(JsonElement id, ProtocolParams p, CancellationToken cancellationToken)
    {
        var source = await _provider.RestoreContainerInitAsync(p.RequiredString("volname"), p.OptionalString("storeid"), cancellationToken).ConfigureAwait(false);
        _writer.Result(id, w =>
        {
            w.WriteStartObject();
            if (source.ArchivePath is not null)
            {
                w.WriteString("tar-path", source.ArchivePath);
            }

            if (source.Directory is not null)
            {
                w.WriteString("archive-directory", source.Directory);
            }

            w.WriteEndObject();
        });
    }
}
