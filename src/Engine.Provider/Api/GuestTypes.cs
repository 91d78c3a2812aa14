namespace Engine.Provider.Api;

/// <summary>Converts <see cref="GuestType"/> to and from PVE's <c>$vmtype</c> strings.</summary>
public static class GuestTypes
{
    /// <summary>Parses <c>qemu</c> or <c>lxc</c>.</summary>
    /// <exception cref="ArgumentException">Anything else.</exception>
    public static GuestType Parse(string text) => text switch
    {
        "qemu" => GuestType.Qemu,
        "lxc" => GuestType.Lxc,
        _ => throw new ArgumentException($"unknown guest type '{text}' (qemu or lxc)", nameof(text)),
    };

    /// <summary>The PVE spelling.</summary>
    public static string ToPveString(this GuestType type) => type == GuestType.Lxc ? "lxc" : "qemu";
}
