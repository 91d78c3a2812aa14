namespace Engine.Ova.Ovf;

/// <summary>
/// An Ethernet item's <c>ResourceSubType</c> mapped to a PVE NIC model. Every model QEMU emulates and PVE offers
/// (qemu-server's NIC model list) is kept, so a guest keeps the adapter its drivers expect; PVE's own importer keeps
/// only e1000, e1000e and vmxnet3 and turns everything else into e1000, which is also the answer here for names no
/// emulated model matches (VMware's VmxNet/VmxNet2, Flexible, unknown).
/// </summary>
internal static class NicModels
{
    /// <summary>The model for unknown subtypes, as in PVE.</summary>
    public const string Fallback = "e1000";

    /// <summary>The PVE model for a <c>ResourceSubType</c> (case-insensitive; null or unknown gives <see cref="Fallback"/>).</summary>
    public static string ToPveModel(string? subType) => subType?.Trim().ToLowerInvariant() switch
    {
        // PVE's own names, as written by PVE-aware producers.
        "e1000" or "e1000e" or "vmxnet3" or "virtio" or "rtl8139" or "pcnet" or "ne2k_pci" or "ne2k_isa"
            or "i82551" or "i82557b" or "i82559er" or "e1000-82540em" or "e1000-82544gc" or "e1000-82545em" => subType!.Trim().ToLowerInvariant(),

        // Other spellings producers use for the same hardware: VMware and VirtualBox write PCNet32 for AMD PCnet,
        // VirtualBox names the Intel and AMD chips, libvirt/QEMU device names.
        "pcnet32" or "am79c970a" or "am79c973" or "pcnet-pci" => "pcnet",
        "virtio-net" or "virtio-net-pci" or "virtio_net" => "virtio",
        "82540em" => "e1000-82540em",
        "82544gc" => "e1000-82544gc",
        "82545em" => "e1000-82545em",
        "rtl-8139" or "rtl8139c" => "rtl8139",
        "ne2000" or "ne2k-pci" => "ne2k_pci",
        _ => Fallback,
    };
}
