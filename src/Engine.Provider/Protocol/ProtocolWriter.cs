using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Engine.Provider.Api;

namespace Engine.Provider.Protocol;

/// <summary>
/// Writes the provider protocol's output lines: responses and log lines, one JSON object per line. Log lines come
/// from backup workers while a call runs, so each line is written whole under a lock.
/// </summary>
public sealed class ProtocolWriter
{
    private readonly Stream _output;
    private readonly Lock _lock = new();
    // Not an HTML context: quotes and apostrophes in messages stay readable.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private long _responses;

    /// <summary>Writes to <paramref name="output"/> (the process's stdout).</summary>
    public ProtocolWriter(Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
    }

    /// <summary>PVE's log function: <c>{"log":{"level":"info","message":"..."}}</c>.</summary>
    public void Log(ProviderLogLevel level, string message)
    {
        WriteLine(writer =>
        {
            writer.WriteStartObject();
            writer.WriteStartObject("log");
            writer.WriteString("level", level switch { ProviderLogLevel.Err => "err", ProviderLogLevel.Warn => "warn", _ => "info" });
            writer.WriteString("message", message);
            writer.WriteEndObject();
            writer.WriteEndObject();
        });
    }

    /// <summary>
    /// How many responses (results and errors) were written: a request whose response is out is over for the peer,
    /// which may send the next one before the request's task has returned.
    /// </summary>
    internal long ResponseCount => Interlocked.Read(ref _responses);

    /// <summary>A call back into the plugin: <c>{"call":{"id":ID,"method":METHOD,"device":DEVICE,"max":MAX}}</c>.</summary>
    internal void Call(string id, string method, string device, int max)
    {
        WriteLine(writer =>
        {
            writer.WriteStartObject();
            writer.WriteStartObject("call");
            writer.WriteString("id", id);
            writer.WriteString("method", method);
            writer.WriteString("device", device);
            writer.WriteNumber("max", max);
            writer.WriteEndObject();
            writer.WriteEndObject();
        });
    }

    /// <summary><c>{"id":ID,"result":RESULT}</c>, the result written by <paramref name="writeResult"/>.</summary>
    internal void Result(JsonElement id, Action<Utf8JsonWriter> writeResult)
    {
        WriteLine(writer =>
        {
            writer.WriteStartObject();
            writer.WritePropertyName("id");
            id.WriteTo(writer);
            writer.WritePropertyName("result");
            writeResult(writer);
            writer.WriteEndObject();
        }, response: true);
    }

    /// <summary><c>{"id":ID,"error":{"message":"..."}}</c>.</summary>
    internal void Error(JsonElement id, string message)
    {
        WriteLine(writer =>
        {
            writer.WriteStartObject();
            writer.WritePropertyName("id");
            id.WriteTo(writer);
            writer.WriteStartObject("error");
            writer.WriteString("message", message);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }, response: true);
    }

    private void WriteLine(Action<Utf8JsonWriter> write, bool response = false)
    {
        lock (_lock)
        {
            _buffer.ResetWrittenCount();
            using (var writer = new Utf8JsonWriter(_buffer, WriterOptions))
            {
                write(writer);
            }

            _buffer.Write("\n"u8);
            if (response)
            {
                // Counted before the peer can see it: it may send its next request the moment the line is out.
                Interlocked.Increment(ref _responses);
            }

            _output.Write(_buffer.WrittenSpan);
            _output.Flush();
        }
    }
}
