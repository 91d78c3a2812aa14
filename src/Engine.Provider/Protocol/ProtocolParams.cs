using System.Globalization;
using System.Text.Json;

namespace Engine.Provider.Protocol;

/// <summary>
/// Typed access to a request's <c>params</c> object. Perl's JSON encoder writes a scalar as a number or a string
/// depending on how it was last used, so ids and sizes are accepted either way and booleans also as 0/1.
/// </summary>
internal readonly struct ProtocolParams(JsonElement element)
{
    /// <summary>9999-12-31T23:59:59Z, the last second <see cref="DateTimeOffset"/> holds.</summary>
    private const long MaxUnixTime = 253402300799;

    public JsonElement Element => element;

    public string RequiredString(string name) =>
        OptionalString(name) ?? throw new ProtocolException($"missing parameter '{name}'");

    public string? OptionalString(string name)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            _ => throw new ProtocolException($"parameter '{name}' must be a string"),
        };
    }

    public long OptionalInt64(string name, long fallback = 0) => ToInt64(name, Property(name), fallback);

    /// <summary>An epoch time in seconds (PVE's <c>$start_time</c>); now when absent.</summary>
    public DateTimeOffset OptionalUnixTime(string name)
    {
        var seconds = OptionalInt64(name, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        return seconds is >= 0 and <= MaxUnixTime
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : throw new ProtocolException($"parameter '{name}' must be seconds since 1970 up to year 9999, got {seconds}");
    }

    public bool RequiredBoolean(string name)
    {
        var value = Property(name);
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number or JsonValueKind.String => ToInt64(name, value, 0) != 0,
            _ => throw new ProtocolException($"missing or malformed boolean parameter '{name}'"),
        };
    }

    public ProtocolParams Object(string name)
    {
        var value = Property(name);
        return value.ValueKind == JsonValueKind.Object ? new ProtocolParams(value) : throw new ProtocolException($"parameter '{name}' must be an object");
    }

    public ProtocolParams OptionalObject(string name)
    {
        var value = Property(name);
        return value.ValueKind == JsonValueKind.Object ? new ProtocolParams(value) : default;
    }

    /// <summary>An array of strings; empty when absent.</summary>
    public IReadOnlyList<string> OptionalStringArray(string name)
    {
        var value = Property(name);
        if (value.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return [];
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new ProtocolException($"parameter '{name}' must be an array of strings");
        }

        var items = new List<string>(value.GetArrayLength());
        foreach (var item in value.EnumerateArray())
        {
            items.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw new ProtocolException($"parameter '{name}' must be an array of strings"));
        }

        return items;
    }

    public bool Has(string name) => element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    public JsonElement.ObjectEnumerator Properties() =>
        element.ValueKind == JsonValueKind.Object ? element.EnumerateObject() : default;

    public static long ToInt64(string name, JsonElement value, long fallback)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return fallback;
            case JsonValueKind.Number when value.TryGetInt64(out var number):
                return number;
            case JsonValueKind.String when long.TryParse(value.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed):
                return parsed;
            default:
                throw new ProtocolException($"parameter '{name}' must be an integer");
        }
    }

    private JsonElement Property(string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) ? value : default;
}
