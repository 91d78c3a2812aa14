using System.Globalization;
using Engine.Provider.Api;

namespace ImageFiles;

/// <summary>
/// This provider's archive names: <c>TYPE/VMID/TIME</c>, with TYPE <c>vm</c> or <c>ct</c> and TIME the backup's
/// start in UTC to the second (<c>vm/100/2026-11-26T06:30:00Z</c>). PVE hands the name back as the volume name,
/// possibly behind a storage prefix such as <c>backup/</c>, so parsing takes the last three path elements.
/// </summary>
internal sealed record ArchiveName(string Type, string Vmid, DateTimeOffset Time)
{
    private const string TimeFormat = "yyyy-MM-ddTHH:mm:ssZ";

    /// <summary>The name of a guest's backup that starts at <paramref name="time"/> (to the second).</summary>
    public static ArchiveName For(GuestType guestType, string vmid, DateTimeOffset time)
    {
        if (vmid.Length == 0 || !vmid.All(char.IsAsciiDigit))
        {
            throw new ArgumentException($"guest id '{vmid}' is not a number", nameof(vmid));
        }

        var seconds = DateTimeOffset.FromUnixTimeSeconds(time.ToUnixTimeSeconds());
        return new ArchiveName(guestType == GuestType.Lxc ? "ct" : "vm", vmid, seconds);
    }

    /// <summary>The archive a volume name (<c>[PREFIX/]TYPE/VMID/TIME</c>) refers to.</summary>
    /// <exception cref="FormatException">It names no archive of this provider.</exception>
    public static ArchiveName Parse(string volumeName)
    {
        var parts = volumeName.Split('/');
        if (parts.Length >= 3 && parts[^3] is "vm" or "ct" && parts[^2].Length > 0 && parts[^2].All(char.IsAsciiDigit) &&
            DateTimeOffset.TryParseExact(parts[^1], TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
        {
            return new ArchiveName(parts[^3], parts[^2], time);
        }

        throw new FormatException($"volume '{volumeName}' names no image-files archive (TYPE/VMID/{TimeFormat})");
    }

    /// <summary>The same guest one second later: two backups started in one second get distinct names.</summary>
    public ArchiveName Next() => this with { Time = Time.AddSeconds(1) };

    /// <summary>The name as PVE sees it.</summary>
    public override string ToString() =>
        $"{Type}/{Vmid}/{Time.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture)}";
}
