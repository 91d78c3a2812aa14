using System.Text.Json;
using Engine.Provider.Api;

namespace Engine.Provider.Protocol;

/// <summary>
/// Serves an <see cref="IBackupProvider"/> over JSON lines: one request <c>{"id":N,"method":"...","params":{...}}</c>
/// per input line, answered in order by <c>{"id":N,"result":...}</c> or <c>{"id":N,"error":{"message":"..."}}</c>,
/// with <c>{"log":{...}}</c> lines interleaved. Method and parameter names are PVE's (see README "Provider
/// protocol"). A failed call answers with an error and the host serves on; end of input ends it.
/// </summary>
public sealed partial class ProviderProtocolHost
{
    /// <summary>Longest request line accepted; a guest configuration is a few KiB.</summary>
    public const int MaxLineChars = 16 << 20;

    private readonly IBackupProvider _provider;
    private readonly ProtocolWriter _writer;

    /// <summary>Serves <paramref name="provider"/>, answering through <paramref name="writer"/>.</summary>
    public ProviderProtocolHost(IBackupProvider provider, ProtocolWriter writer)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(writer);
        _provider = provider;
        _writer = writer;
    }

    /// <summary>Reads and answers requests until end of input or cancellation.</summary>
    public async Task RunAsync(TextReader input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        while (await input.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            await HandleLineAsync(line, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Answers one request line.</summary>
    public async Task HandleLineAsync(string line, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(line);
        JsonDocument document;
        try
        {
            if (line.Length > MaxLineChars)
            {
                throw new ProtocolException($"request line of {line.Length} characters exceeds {MaxLineChars}");
            }

            document = JsonDocument.Parse(line);
        }
        catch (Exception e) when (e is JsonException or ProtocolException)
        {
            _writer.Error(NullId, $"malformed request: {e.Message}");
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            var id = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("id", out var idElement) ? idElement : NullId;
            try
            {
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("method", out var method) || method.ValueKind != JsonValueKind.String)
                {
                    throw new ProtocolException("a request needs a string 'method'");
                }

                var parameters = new ProtocolParams(root.TryGetProperty("params", out var p) ? p : default);
                await DispatchAsync(id, method.GetString()!, parameters, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _writer.Error(id, e.Message);
            }
        }
    }

    private static JsonElement NullId { get; } = JsonDocument.Parse("null").RootElement;

    private Task DispatchAsync(JsonElement id, string method, ProtocolParams p, CancellationToken cancellationToken)
    {
        switch (method)
        {
            case "provider_name":
                _writer.Result(id, w => w.WriteStringValue(_provider.ProviderName));
                return Task.CompletedTask;
            case "job_init":
                _provider.JobInit(DateTimeOffset.FromUnixTimeSeconds(p.OptionalInt64("start-time", DateTimeOffset.UtcNow.ToUnixTimeSeconds())));
                _writer.Result(id, WriteNull);
                return Task.CompletedTask;
            case "job_cleanup":
                _provider.JobCleanup();
                _writer.Result(id, WriteNull);
                return Task.CompletedTask;
            case "backup_init":
                BackupInit(id, p);
                return Task.CompletedTask;
            case "backup_cleanup":
                BackupCleanup(id, p);
                return Task.CompletedTask;
            case "backup_get_mechanism":
                var mechanism = _provider.BackupGetMechanism(p.RequiredString("vmid"), GuestTypes.Parse(p.RequiredString("vmtype")));
                _writer.Result(id, w => w.WriteStringValue(mechanism));
                return Task.CompletedTask;
            case "backup_handle_log_file":
                _provider.BackupHandleLogFile(p.RequiredString("vmid"), p.RequiredString("filename"));
                _writer.Result(id, WriteNull);
                return Task.CompletedTask;
            case "backup_vm_query_incremental":
                BackupVmQueryIncremental(id, p);
                return Task.CompletedTask;
            case "backup_vm":
                return BackupVmAsync(id, p, cancellationToken);
            case "backup_container_prepare":
                _provider.BackupContainerPrepare(p.RequiredString("vmid"), ReadContainerInfo(p.OptionalObject("info")));
                _writer.Result(id, WriteNull);
                return Task.CompletedTask;
            case "backup_container":
                return BackupContainerAsync(id, p, cancellationToken);
            case "restore_container_init":
                return RestoreContainerInitAsync(id, p, cancellationToken);
            case "restore_container_cleanup":
                _provider.RestoreContainerCleanup(p.RequiredString("volname"), p.OptionalString("storeid"));
                _writer.Result(id, WriteNull);
                return Task.CompletedTask;
            case "restore_get_mechanism":
                RestoreGetMechanism(id, p);
                return Task.CompletedTask;
            case "archive_get_guest_config":
                var config = _provider.ArchiveGetGuestConfig(p.RequiredString("volname"), p.OptionalString("storeid"));
                _writer.Result(id, w => w.WriteStringValue(config));
                return Task.CompletedTask;
            case "archive_get_firewall_config":
                var firewall = _provider.ArchiveGetFirewallConfig(p.RequiredString("volname"), p.OptionalString("storeid"));
                _writer.Result(id, w => WriteNullableString(w, firewall));
                return Task.CompletedTask;
            case "restore_vm_init":
                return RestoreVmInitAsync(id, p, cancellationToken);
            case "restore_vm_volume_init":
                var path = _provider.RestoreVmVolumeInit(p.RequiredString("volname"), p.RequiredString("device-name"));
                _writer.Result(id, w =>
                {
                    w.WriteStartObject();
                    w.WriteString("qemu-img-path", path);
                    w.WriteEndObject();
                });
                return Task.CompletedTask;
            case "restore_vm_volume_cleanup":
                _provider.RestoreVmVolumeCleanup(p.RequiredString("volname"), p.RequiredString("device-name"));
                _writer.Result(id, WriteNull);
                return Task.CompletedTask;
            case "restore_vm_cleanup":
                return RestoreVmCleanupAsync(id, p);
            default:
                throw new ProtocolException($"unknown method '{method}'");
        }
    }

    private static void WriteNull(Utf8JsonWriter writer) => writer.WriteNullValue();

    private static void WriteNullableString(Utf8JsonWriter writer, string? value)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}
