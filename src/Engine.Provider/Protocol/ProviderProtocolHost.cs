using System.Buffers;
using System.Text;
using System.Text.Json;
using Engine.Blocks;
using Engine.Provider.Api;

namespace Engine.Provider.Protocol;

/// <summary>
/// Serves an <see cref="IBackupProvider"/> over JSON lines: one request <c>{"id":N,"method":"...","params":{...}}</c>
/// per input line, answered by <c>{"id":N,"result":...}</c> or <c>{"id":N,"error":{"message":"..."}}</c>, with
/// <c>{"log":{...}}</c> lines interleaved. Method and parameter names are PVE's (see docs/provider-protocol.md).
/// Requests are served one at a time; while one runs the host keeps reading, because the request may call back into
/// the plugin (<c>{"call":...}</c> out, <c>{"reply":...}</c> in) for a volume's <c>next-dirty-region</c>. A failed
/// call answers with an error and the host serves on; end of input ends it.
/// </summary>
public sealed partial class ProviderProtocolHost
{
    /// <summary>
    /// Longest input line accepted, in bytes without the newline; a guest configuration is a few KiB. A longer line is
    /// dropped as it arrives, so it never costs more memory than this.
    /// </summary>
    internal const int MaxLineBytes = 16 << 20;

    private readonly IBackupProvider _provider;
    private readonly ProtocolWriter _writer;
    private readonly DescriptorChannel? _descriptors;
    private readonly PeerCalls _peer;

    /// <summary>Serves <paramref name="provider"/>, answering through <paramref name="writer"/>.</summary>
    /// <param name="provider">The callbacks.</param>
    /// <param name="writer">The output lines.</param>
    /// <param name="descriptors">Where <c>file-handle</c> volumes' descriptors arrive; without it they are refused.</param>
    public ProviderProtocolHost(IBackupProvider provider, ProtocolWriter writer, DescriptorChannel? descriptors = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(writer);
        _provider = provider;
        _writer = writer;
        _descriptors = descriptors;
        _peer = new PeerCalls(writer);
    }

    /// <summary>
    /// Reads lines from <paramref name="input"/> (left open) until end of input or cancellation: replies go to the
    /// calls waiting for them, requests run one at a time. A request that arrives before the running one was answered
    /// is refused with an error, as is a line that is not JSON or longer than <see cref="MaxLineBytes"/>. At end of
    /// input the running request's callbacks fail and the host waits for its answer.
    /// </summary>
    public async Task RunAsync(Stream input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var lines = new ProtocolLineReader(input);
        Task? running = null;
        long started = 0;
        try
        {
            while (await lines.ReadAsync(cancellationToken).ConfigureAwait(false) is { Kind: not ProtocolLineKind.End } line)
            {
                if (!TryParse(line, out var document))
                {
                    // The refusal is a response of its own: count it, or a running request would look answered.
                    started++;
                    continue;
                }

                if (document is null)
                {
                    continue;
                }

                var root = document.RootElement;
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("reply", out var reply))
                {
                    using (document)
                    {
                        RouteReply(reply);
                    }

                    continue;
                }

                if (running is { IsCompleted: false })
                {
                    if (_writer.ResponseCount < started)
                    {
                        using (document)
                        {
                            _writer.Error(IdOf(root), "a request arrived while another one runs; send one request at a time");
                        }

                        started++;
                        continue;
                    }

                    // Answered already: only the task's tail is left.
                    await running.ConfigureAwait(false);
                }

                started++;
                running = Task.Run(() => HandleDocumentAsync(document, cancellationToken), cancellationToken);
            }
        }
        finally
        {
            lines.Dispose();
            _peer.Close(new ProtocolException("the request stream ended while the provider waited for a reply"));
            if (running is not null)
            {
                await running.ConfigureAwait(false);
            }
        }
    }

    /// <summary>Answers one request line; the request cannot call back into the plugin (use <see cref="RunAsync"/>).</summary>
    internal async Task HandleLineAsync(string line, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (TryParse(ProtocolLine.Of(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(line))), out var document) && document is not null)
        {
            await HandleDocumentAsync(document, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Parses a request or reply line; false when the line was refused (answered with an error and id null), true
    /// with no document for a blank line. The document owns a copy of the bytes, so the line may be released.
    /// </summary>
    private bool TryParse(in ProtocolLine line, out JsonDocument? document)
    {
        document = null;
        if (line.Kind == ProtocolLineKind.TooLong)
        {
            _writer.Error(NullId, $"malformed request: a line of {line.Length} bytes exceeds the limit of {MaxLineBytes} bytes and was skipped");
            return false;
        }

        if (IsBlank(line.Bytes))
        {
            return true;
        }

        try
        {
            // ParseValue copies the value into a pooled array the document owns (Parse would keep pointing into a
            // one-segment buffer the pipe reuses); what follows the value must be whitespace only.
            var reader = new Utf8JsonReader(line.Bytes);
            document = JsonDocument.ParseValue(ref reader);
            if (reader.Read())
            {
                document.Dispose();
                document = null;
                throw new ProtocolException($"unexpected data after the JSON value at byte {reader.TokenStartIndex}");
            }

            return true;
        }
        catch (Exception e) when (e is JsonException or ProtocolException)
        {
            _writer.Error(NullId, $"malformed request: {e.Message}");
            return false;
        }
    }

    private static bool IsBlank(ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes)
        {
            if (segment.Span.IndexOfAnyExcept(" \t\r"u8) >= 0)
            {
                return false;
            }
        }

        return true;
    }

    private void RouteReply(JsonElement reply)
    {
        try
        {
            // A reply nobody waits for belongs to a call its request gave up on (the request failed first).
            _ = _peer.Complete(reply);
        }
        catch (ProtocolException e)
        {
            _writer.Log(ProviderLogLevel.Err, $"malformed reply: {e.Message}");
        }
    }

    private static JsonElement IdOf(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("id", out var id) ? id : NullId;

    private async Task HandleDocumentAsync(JsonDocument document, CancellationToken cancellationToken)
    {
        using (document)
        {
            var root = document.RootElement;
            var id = IdOf(root);
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
                _writer.Error(id, ExceptionText.Of(e));
            }
        }
    }

    private static JsonElement NullId { get; } = JsonDocument.Parse("null").RootElement;

    private Task DispatchAsync(JsonElement id, string method, ProtocolParams p, CancellationToken cancellationToken)
    {
        switch (method)
        {
            case "provider_name":
                return AnsweredString(id, _provider.ProviderName);
            case "job_init":
                _provider.JobInit(p.OptionalUnixTime("start-time"));
                return AnsweredNull(id);
            case "job_cleanup":
                _provider.JobCleanup();
                return AnsweredNull(id);
            case "backup_init":
                BackupInit(id, p);
                return Task.CompletedTask;
            case "backup_cleanup":
                return BackupCleanupAsync(id, p, cancellationToken);
            case "backup_get_mechanism":
                return AnsweredString(id, _provider.BackupGetMechanism(p.RequiredString("vmid"), GuestTypes.Parse(p.RequiredString("vmtype"))));
            case "backup_handle_log_file":
                _provider.BackupHandleLogFile(p.RequiredString("vmid"), p.RequiredString("filename"));
                return AnsweredNull(id);
            case "backup_vm_query_incremental":
                BackupVmQueryIncremental(id, p);
                return Task.CompletedTask;
            case "backup_vm":
                return BackupVmAsync(id, p, cancellationToken);
            case "backup_container_prepare":
                _provider.BackupContainerPrepare(p.RequiredString("vmid"), ReadContainerInfo(p.OptionalObject("info")));
                return AnsweredNull(id);
            case "backup_container":
                return BackupContainerAsync(id, p, cancellationToken);
            case "restore_container_init":
                return RestoreContainerInitAsync(id, p, cancellationToken);
            case "restore_container_cleanup":
                _provider.RestoreContainerCleanup(p.RequiredString("volname"), p.OptionalString("storeid"));
                return AnsweredNull(id);
            case "restore_get_mechanism":
                RestoreGetMechanism(id, p);
                return Task.CompletedTask;
            case "archive_get_guest_config":
                return AnsweredString(id, _provider.ArchiveGetGuestConfig(p.RequiredString("volname"), p.OptionalString("storeid")));
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
                return AnsweredNull(id);
            case "restore_vm_cleanup":
                return RestoreVmCleanupAsync(id, p);
            default:
                throw new ProtocolException($"unknown method '{method}'");
        }
    }

    private static void WriteNull(Utf8JsonWriter writer) => writer.WriteNullValue();

    private Task AnsweredString(JsonElement id, string value)
    {
        _writer.Result(id, w => w.WriteStringValue(value));
        return Task.CompletedTask;
    }

    /// <summary>Answers <c>null</c>, the result of every callback that returns nothing.</summary>
    private Task AnsweredNull(JsonElement id)
    {
        _writer.Result(id, WriteNull);
        return Task.CompletedTask;
    }

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
