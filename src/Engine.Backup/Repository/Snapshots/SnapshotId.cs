using System.Globalization;

namespace Engine.Backup.Repository.Snapshots;

/// <summary>
/// Names one snapshot: <c>&lt;type&gt;/&lt;vmid&gt;/&lt;UTC time&gt;</c>, e.g. <c>vm/100/2026-11-26T06:30:00Z</c>. The time
/// is kept in UTC with whole seconds, so the text form round-trips.
/// </summary>
/// <param name="Type">The guest type: <c>vm</c> or <c>ct</c>.</param>
/// <param name="Vmid">The guest id (digits).</param>
/// <param name="Time">When the backup started (UTC, truncated to the second).</param>
public readonly record struct SnapshotId(string Type, string Vmid, DateTimeOffset Time)
{
    /// <summary>The time format of the id and of the snapshot's directory name.</summary>
    public const string TimeFormat = "yyyy-MM-ddTHH:mm:ssZ";

    /// <summary>The guest type: <c>vm</c> or <c>ct</c>.</summary>
    public string Type { get; init; } = Type;

    /// <summary>The guest id (digits).</summary>
    public string Vmid { get; init; } = Vmid;

    /// <summary>When the backup started (UTC, truncated to the second).</summary>
    public DateTimeOffset Time { get; init => field = TruncateToSecond(value); } = TruncateToSecond(Time);

    /// <summary>The time as it appears in the id.</summary>
    public string TimeText => Time.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    /// <summary><c>type/vmid/time</c>.</summary>
    public override string ToString() => $"{Type}/{Vmid}/{TimeText}";

    /// <summary>Parses <c>type/vmid/yyyy-MM-ddTHH:mm:ssZ</c>.</summary>
    /// <exception cref="FormatException">Not a snapshot id.</exception>
    public static SnapshotId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a snapshot id (expected TYPE/VMID/{TimeFormat}, e.g. vm/100/2026-11-26T06:30:00Z)");
    }

    /// <summary>Parses <c>type/vmid/yyyy-MM-ddTHH:mm:ssZ</c>; false when the text is anything else.</summary>
    public static bool TryParse(string? text, out SnapshotId id)
    {
        id = default;
        var parts = text?.Split('/');
        if (parts is not { Length: 3 } || !IsValidType(parts[0]) || !IsValidVmid(parts[1]) ||
            !TryParseTime(parts[2], out var time))
        {
            return false;
        }

        id = new SnapshotId(parts[0], parts[1], time);
        return true;
    }

    /// <summary>Whether <paramref name="type"/> is a guest type the repository accepts.</summary>
    public static bool IsValidType(string? type) => type is "vm" or "ct";

    /// <summary>Whether <paramref name="vmid"/> is a guest id: 1 to 18 ASCII digits.</summary>
    public static bool IsValidVmid(string? vmid) =>
        vmid is { Length: > 0 and <= 18 } && vmid.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0;

    /// <summary>Parses the time part of an id (a snapshot directory's name).</summary>
    public static bool TryParseTime(string text, out DateTimeOffset time) =>
        DateTimeOffset.TryParseExact(text, TimeFormat, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);

    /// <summary>Throws when the id could not have come from <see cref="Parse"/> (it would name a path outside the repository).</summary>
    internal void Validate()
    {
        if (!IsValidType(Type))
        {
            throw new ArgumentException($"snapshot type '{Type}' is not vm or ct");
        }

        if (!IsValidVmid(Vmid))
        {
            throw new ArgumentException($"vmid '{Vmid}' is not a number");
        }
    }

    private static DateTimeOffset TruncateToSecond(DateTimeOffset time)
    {
        var utc = time.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
    }
}
