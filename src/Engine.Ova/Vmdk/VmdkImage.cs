using Engine.Blocks;

namespace Engine.Ova.Vmdk;

/// <summary>
/// A sparse VMDK (streamOptimized or monolithicSparse) read front to back from a stream: the header and metadata
/// area are read by <see cref="Open"/>, the grains by <see cref="ConvertAsync"/>, which writes them into a raw
/// target without any temporary copy.
/// </summary>
internal sealed class VmdkImage
{
    private readonly Stream _source;
    private readonly byte[] _prologue;

    private VmdkImage(Stream source, string name, SparseExtentHeader header, VmdkDescriptor? descriptor, byte[] prologue)
    {
        _source = source;
        Name = name;
        Header = header;
        Descriptor = descriptor;
        _prologue = prologue;
    }

    /// <summary>The name used in messages.</summary>
    public string Name { get; }

    /// <summary>The extent header.</summary>
    public SparseExtentHeader Header { get; }

    /// <summary>The embedded descriptor, if there is one.</summary>
    public VmdkDescriptor? Descriptor { get; }

    /// <summary>Virtual size in bytes.</summary>
    public long CapacityBytes => Header.CapacityBytes;

    /// <summary>Reads and validates the header and metadata area from the start of <paramref name="source"/>.</summary>
    /// <exception cref="OvaFormatException">Not a supported, self-contained sparse VMDK, or hostile.</exception>
    public static VmdkImage Open(Stream source, string name, VmdkLimits limits)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(limits);
        var first = new byte[SparseExtentHeader.Size];
        if (source.ReadAtLeast(first, first.Length, throwOnEndOfStream: false) < first.Length)
        {
            throw new OvaFormatException($"{name}: truncated VMDK header");
        }

        var header = SparseExtentHeader.Parse(first, name, limits.MaxCapacityBytes);
        if ((header.Flags & SparseExtentHeader.FlagCompressed) != 0 && !header.IsStreamOptimized)
        {
            throw new OvaFormatException($"{name}: compressed sparse VMDK without markers (ACE-era format) is not supported");
        }

        if (header.OverHead > (ulong)limits.MaxPrologueBytes / 512)
        {
            throw new OvaFormatException($"{name}: {header.OverHead} sectors of metadata before the first grain, above the {limits.MaxPrologueBytes}-byte limit");
        }

        var prologue = new byte[header.OverHead * 512];
        first.CopyTo(prologue, 0);
        var rest = prologue.AsSpan(first.Length);
        if (source.ReadAtLeast(rest, rest.Length, throwOnEndOfStream: false) < rest.Length)
        {
            throw new OvaFormatException($"{name}: truncated: the metadata area is {prologue.Length} bytes (overHead {header.OverHead} sectors)");
        }

        VmdkDescriptor? descriptor = null;
        if (header.DescriptorOffset != 0)
        {
            var text = prologue.AsSpan((int)header.DescriptorOffset * 512, (int)header.DescriptorSize * 512);
            descriptor = VmdkDescriptor.Parse(text, name);
            descriptor.ValidateEmbedded(name, header.Capacity);
        }

        return new VmdkImage(source, name, header, descriptor, prologue);
    }

    /// <summary>Writes the disk's data into <paramref name="target"/> (at least <see cref="CapacityBytes"/> long), skipping zero grains.</summary>
    /// <param name="target">A raw device, already zero (a fresh sparse file).</param>
    /// <param name="workers">Workers inflating grains in parallel (streamOptimized).</param>
    /// <param name="progress">Receives the number of VMDK bytes consumed so far.</param>
    /// <param name="cancellationToken">Cancels the conversion.</param>
    /// <returns>Bytes of data written.</returns>
    /// <exception cref="OvaFormatException">A grain lies past the capacity, inflates wrongly, repeats, or the stream is truncated.</exception>
    public Task<long> ConvertAsync(IBlockDevice target, int workers, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        return Header.IsStreamOptimized
            ? new StreamOptimizedConverter(_source, Name, Header, _prologue.Length, target, progress).RunAsync(Math.Max(1, workers), cancellationToken)
            : new MonolithicSparseConverter(_source, Name, Header, _prologue, target, progress).RunAsync(cancellationToken);
    }
}
