namespace Engine.Provider.Api;

/// <summary>PVE's <c>$vmtype</c>.</summary>
public enum GuestType
{
    /// <summary><c>qemu</c>: a virtual machine.</summary>
    Qemu,

    /// <summary><c>lxc</c>: a container.</summary>
    Lxc,
}
