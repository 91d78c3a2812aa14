using Engine.Fuzz.Targets;

namespace Engine.Fuzz;

/// <summary>Every fuzz target, by name.</summary>
public static class FuzzTargets
{
    /// <summary>
    /// Inputs are cut to this many bytes: enough for the qemu-img VMDK seeds (a streamOptimized file starts with 64 KiB
    /// of metadata), far below the parsers' own caps, and small enough to run fast.
    /// </summary>
    public const int MaxInputBytes = 256 << 10;

    /// <summary>All targets, in the order <c>run.sh --list</c> prints them.</summary>
    public static IReadOnlyList<IFuzzTarget> All { get; } =
    [
        new NbdOptionsTarget(),
        new NbdTransmissionTarget(),
        new NbdClientHandshakeTarget(),
        new OvfTarget(),
        new OvaManifestTarget(),
        new TarTarget(),
        new VmdkTarget(),
        new RepositoryIndexTarget(),
        new RepositoryManifestTarget(),
        new CatalogTarget(),
        new ProviderJsonLinesTarget(),
        new DirtyMapTarget(),
        new Qcow2Target(),
    ];

    /// <summary>The target called <paramref name="name"/>, or null.</summary>
    public static IFuzzTarget? Find(string name) => All.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.Ordinal));
}
