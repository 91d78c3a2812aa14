namespace Engine.Qcow2.Writing;

/// <summary>What a new qcow2 image looks like (<see cref="Qcow2WritableDevice"/>, <c>Create</c>).</summary>
public sealed class Qcow2CreateOptions
{
    /// <summary>The default cluster size, as <c>qemu-img create</c> chooses it.</summary>
    public const int DefaultClusterSize = 64 << 10;

    /// <summary>The guest size in bytes (rounded up to a multiple of 512, as qemu does).</summary>
    public required long Size { get; init; }

    /// <summary>Cluster size: a power of two from 512 bytes to 2 MiB.</summary>
    public int ClusterSize { get; init; } = DefaultClusterSize;

    /// <summary>The backing file, as written into the header (qemu resolves a relative name against the image's folder).</summary>
    public string? BackingFile { get; init; }

    /// <summary>The backing file's format (<c>raw</c> or <c>qcow2</c>), written as the backing format extension.</summary>
    public string? BackingFormat { get; init; }

    /// <summary>
    /// The image is written whole and used only once the writer is done (<c>engine copy</c>, imports): metadata updates
    /// are not separated by <c>fdatasync</c>, as <c>qemu-img convert</c> writes with <c>cache=unsafe</c>. A crash then
    /// leaves an image to delete; <see cref="Qcow2WritableDevice.FlushAsync"/> still makes everything durable.
    /// </summary>
    public bool Conversion { get; init; }
}
