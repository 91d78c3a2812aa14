using System.Text.Json;
using Engine.Provider.Api;
using Microsoft.Win32.SafeHandles;

namespace Engine.Provider.Protocol;

/// <summary>The guest backup methods.</summary>
public sealed partial class ProviderProtocolHost
{
    private void BackupInit(JsonElement id, ProtocolParams p)
    {
        var start = p.OptionalUnixTime("start-time");
        var vmid = p.RequiredString("vmid");
        var name = _provider.BackupInit(vmid, GuestTypes.Parse(p.RequiredString("vmtype")), start);
        if (!ArchiveNames.IsValid(name))
        {
            throw new InvalidOperationException($"provider returned an invalid archive name '{name}'");
        }

        _guestsInBackup.Add(vmid);

        _writer.Result(id, w =>
        {
            w.WriteStartObject();
            w.WriteString("archive-name", name);
            w.WriteEndObject();
        });
    }

    private async Task BackupCleanupAsync(JsonElement id, ProtocolParams p, CancellationToken cancellationToken)
    {
        var info = p.OptionalObject("info");

        // PVE passes an undefined vmtype when a job aborts early; the cleanup must still happen, and the provider
        // knows the guest from its backup_init.
        var type = p.OptionalString("vmtype") is { } vmtype ? GuestTypes.Parse(vmtype) : GuestType.Qemu;
        var vmid = p.RequiredString("vmid");
        _guestsInBackup.Remove(vmid);
        var result = await _provider.BackupCleanupAsync(vmid, type, p.RequiredBoolean("success"), info.OptionalString("error"), cancellationToken).ConfigureAwait(false);
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
        var handles = new List<SafeFileHandle>();
        try
        {
            foreach (var entry in p.Object("volumes").Properties())
            {
                var volume = new ProtocolParams(entry.Value);
                long? size = volume.Has("size") ? volume.OptionalInt64("size") : null;
                var mode = ParseBitmapMode(volume.OptionalString("bitmap-mode") ?? "none");
                if (volume.Has("file-handle"))
                {
                    var handle = TakeDescriptor(entry.Name, volume.Object("file-handle"));
                    handles.Add(handle);
                    volumes[entry.Name] = new BackupVmVolume
                    {
                        Size = size,
                        FileHandle = handle,
                        NextDirtyRegion = DirtyRegionStream.PullAsync(_peer, entry.Name, size, cancellationToken),
                        BitmapMode = mode,
                        BitmapName = volume.OptionalString("bitmap-name"),
                    };
                    continue;
                }

                volumes[entry.Name] = new BackupVmVolume
                {
                    Size = size,
                    NbdPath = volume.RequiredString("nbd-path"),
                    BitmapMode = mode,
                    BitmapName = volume.OptionalString("bitmap-name"),
                };
            }

            var info = p.OptionalObject("info");
            await _provider.BackupVmAsync(p.RequiredString("vmid"), p.OptionalString("guest-config") ?? "", volumes, new BackupVmInfo
            {
                BandwidthLimit = info.OptionalInt64("bandwidth-limit"),
                FirewallConfig = info.OptionalString("firewall-config"),
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // PVE keeps its own handle open until its cleanup; ours is a duplicate and goes now.
            foreach (var handle in handles)
            {
                handle.Dispose();
            }
        }

        _writer.Result(id, WriteNull);
    }

    private SafeFileHandle TakeDescriptor(string device, ProtocolParams fileHandle)
    {
        if (_descriptors is null)
        {
            throw new ProtocolException($"{device}: a file-handle volume needs the fd channel (engine provider --fd-channel N)");
        }

        var token = ProtocolParams.ToInt64("fd-token", fileHandle.Element.TryGetProperty("fd-token", out var value) ? value : default, -1);
        return token < 0
            ? throw new ProtocolException($"{device}: file-handle needs an 'fd-token'")
            : _descriptors.Take(token);
    }

    private static BitmapMode ParseBitmapMode(string text) => text switch
    {
        "none" => BitmapMode.None,
        "new" => BitmapMode.New,
        "reuse" => BitmapMode.Reuse,
        _ => throw new ProtocolException($"unknown bitmap-mode '{text}' (none, new or reuse)"),
    };
}
