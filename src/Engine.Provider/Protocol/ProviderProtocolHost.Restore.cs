using System.Text.Json;
using Engine.Provider.Api;

namespace Engine.Provider.Protocol;

/// <summary>The restore methods.</summary>
public sealed partial class ProviderProtocolHost
{
    private void RestoreGetMechanism(JsonElement id, ProtocolParams p)
    {
        var mechanism = _provider.RestoreGetMechanism(p.RequiredString("volname"), p.OptionalString("storeid"));
        _writer.Result(id, w =>
        {
            w.WriteStartObject();
            w.WriteString("mechanism", mechanism.Mechanism);
            w.WriteString("vmtype", mechanism.GuestType.ToPveString());
            w.WriteEndObject();
        });
    }

    private async Task RestoreVmInitAsync(JsonElement id, ProtocolParams p, CancellationToken cancellationToken)
    {
        var sizes = await _provider.RestoreVmInitAsync(p.RequiredString("volname"), cancellationToken).ConfigureAwait(false);
        _writer.Result(id, w =>
        {
            w.WriteStartObject();
            foreach (var (device, size) in sizes)
            {
                w.WriteStartObject(device);
                w.WriteNumber("size", size);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        });
    }

    private async Task RestoreVmCleanupAsync(JsonElement id, ProtocolParams p)
    {
        await _provider.RestoreVmCleanupAsync(p.RequiredString("volname")).ConfigureAwait(false);
        _writer.Result(id, WriteNull);
    }
}
