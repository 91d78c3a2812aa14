using Engine.Blocks;
using Engine.Ova.Vmdk;

namespace Engine.Ova.Import;

/// <summary>What the importer writes.</summary>
public enum OvaOutputFormat
{
    /// <summary>Sparse raw images.</summary>
    Raw,
    /// <summary>qcow2 images, written by <see cref="OvaImportOptions.CreateImage"/> (without it the importer refuses with <see cref="NotSupportedException"/>).</summary>
    Qcow2,
}

/// <summary>Options of <see cref="OvaImporter"/>.</summary>
public sealed record OvaImportOptions
{
    /// <summary>Existing folder the disks are written to.</summary>
    public required string TargetDirectory { get; init; }

    /// <summary>Output format for converted disks.</summary>
    public OvaOutputFormat Format { get; init; } = OvaOutputFormat.Raw;

    /// <summary>Copy each disk file out as it is stored (chunks joined, gzip undone) instead of converting it, as PVE does.</summary>
    public bool Extract { get; init; }

    /// <summary>Import only this disk: a drive key (<c>scsi0</c>), file name, href or disk id.</summary>
    public string? Disk { get; init; }

    /// <summary>Which virtual system of a collection (id or name); the first by default.</summary>
    public string? VirtualSystem { get; init; }

    /// <summary>Threads inflating streamOptimized grains.</summary>
    public int Workers { get; init; } = Math.Clamp(Environment.ProcessorCount, 1, 4);

    /// <summary>Bounds against hostile images.</summary>
    public VmdkLimits Limits { get; init; } = VmdkLimits.Default;

    /// <summary>Receives the archive offset reached.</summary>
    public IProgress<long>? Progress { get; init; }

    /// <summary>Receives warnings (unlisted files, capacity disagreements).</summary>
    public Action<string>? Warning { get; init; }

    /// <summary>
    /// Writes converted disks as <see cref="OvaOutputFormat.Qcow2"/>: given a new, empty file (under its temporary name)
    /// and the disk's size, returns the image device to write the disk into. The importer stays on Engine.Blocks; the
    /// caller brings the qcow2 writer.
    /// </summary>
    public Func<string, long, IBlockDevice>? CreateImage { get; init; }
}

/// <summary>A disk the importer wrote.</summary>
/// <param name="Address">The PVE drive key.</param>
/// <param name="Source">The package file, or null for a blank disk.</param>
/// <param name="SourceFormat">What the file turned out to be: streamOptimized, monolithicSparse, raw, blank...</param>
/// <param name="OutputPath">The file written.</param>
/// <param name="Format">raw or qcow2, or the stored format when extracting.</param>
/// <param name="VirtualSize">Virtual size in bytes.</param>
/// <param name="DataBytes">Bytes of data written.</param>
/// <param name="Manifest">verified, unlisted or absent.</param>
public sealed record ImportedDisk(string Address, string? Source, string SourceFormat, string OutputPath, string Format, long VirtualSize, long DataBytes, string Manifest);
