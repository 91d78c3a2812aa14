using System.Text.Json;
using Engine.Provider.Api;

namespace Engine.Provider.Protocol;

/// <summary>The container methods.</summary>
public sealed partial class ProviderProtocolHost
{
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
        await _provider.BackupContainerAsync(p.RequiredString("vmid"), p.OptionalString("guest-config") ?? "", p.OptionalStringArray("exclude-patterns"),
            ReadContainerInfo(p.OptionalObject("info")), cancellationToken).ConfigureAwait(false);
        _writer.Result(id, WriteNull);
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
