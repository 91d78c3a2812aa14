using System.Text.Json;
using Engine.Provider.Api;

namespace Engine.Provider.Protocol;

/// <summary>The guest backup methods.</summary>
public sealed partial class ProviderProtocolHost
{
    private void BackupInit(JsonElement id, ProtocolParams p)
    {
        var start = DateTimeOffset.FromUnixTimeSeconds(p.OptionalInt64("start-time", DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        var name = _provider.BackupInit(p.RequiredString("vmid"), GuestTypes.Parse(p.RequiredString("vmtype")), start);
        if (!ArchiveNames.IsValid(name))
        {
            throw new InvalidOperationException($"provider returned an invalid archive name '{name}'");
        }

        _writer.Result(id, w =>
        {
            w.WriteStartObject();
            w.WriteString("archive-name", name);
            w.WriteEndObject();
        });
    }

    private void BackupCleanup(JsonElement id, ProtocolParams p)
    {
        var info = p.OptionalObject("info");
        var result = _provider.BackupCleanup(p.RequiredString("vmid"), GuestTypes.Parse(p.RequiredString("vmtype")), p.RequiredBoolean("success"), info.OptionalString("error"));
        _writer.Result(id, w =>
        {
            w.WriteStartObject();
            if (result.ArchiveSize is { } size)
            {
                w.WriteStartObject("stats");
                w.WriteNumber("archive-size", size);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        });
    }

    private void BackupVmQueryIncremental(JsonElement id, ProtocolParams p)
    {
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var volume in p.Object("volumes").Properties())
        {
            sizes[volume.Name] = new ProtocolParams(volume.Value).OptionalInt64("size", -1);
        }

        var answer = _provider.BackupVmQueryIncremental(p.RequiredString("vmid"), sizes);
        _writer.Result(id, w =>
        {
            w.WriteStartObject();
            foreach (var (device, mode) in answer)
            {
                w.WriteString(device, mode);
            }

            w.WriteEndObject();
        });
    }

    private async Task BackupVmAsync(JsonElement id, ProtocolParams p, CancellationToken cancellationToken)
    {
        var volumes = new Dictionary<string, BackupVmVolume>(StringComparer.Ordinal);
        foreach (var entry in p.Object("volumes").Properties())
        {
            var volume = new ProtocolParams(entry.Value);
            if (volume.Has("file-handle"))
            {
                throw new ProtocolException($"{entry.Name}: file-handle cannot cross the process boundary yet; use the nbd mechanism");
            }

            volumes[entry.Name] = new BackupVmVolume
            {
                Size = volume.Has("size") ? volume.OptionalInt64("size") : null,
                NbdPath = volume.RequiredString("nbd-path"),
                BitmapMode = ParseBitmapMode(volume.OptionalString("bitmap-mode") ?? "none"),
                BitmapName = volume.OptionalString("bitmap-name"),
            };
        }

        var info = p.OptionalObject("info");
        await _provider.BackupVmAsync(p.RequiredString("vmid"), p.OptionalString("guest-config") ?? "", volumes, new BackupVmInfo
        {
            BandwidthLimit = info.OptionalInt64("bandwidth-limit"),
            FirewallConfig = info.OptionalString("firewall-config"),
        }, cancellationToken).ConfigureAwait(false);
        _writer.Result(id, WriteNull);
    }

    private static BitmapMode ParseBitmapMode(string text) => text switch
    {
        "none" => BitmapMode.None,
        "new" => BitmapMode.New,
        "reuse" => BitmapMode.Reuse,
        _ => throw new ProtocolException($"unknown bitmap-mode '{text}' (none, new or reuse)"),
    };
}
