using Engine.Ova.Import;
using Engine.Ova.Ovf;
using Engine.Ova.Tar;
using Engine.Ova.Vmdk;

namespace Engine.Ova.Serving;

/// <summary>Where an OVA's inner disk lies in the archive, when it can be served in place.</summary>
/// <param name="Address">The disk's drive key.</param>
/// <param name="Offset">Archive offset of the disk's first byte.</param>
/// <param name="Length">The disk's size.</param>
/// <param name="Description">What is served (member name, and the flat extent for a descriptor).</param>
internal sealed record InnerDiskLocation(string Address, long Offset, long Length, string Description);

/// <summary>
/// Finds the bytes of a raw disk, or of a monolithicFlat VMDK's extent, inside the archive. The extent must be
/// another member of the same archive: a descriptor naming anything else (a host path) is refused.
/// </summary>
internal static class InnerDiskLocator
{
    /// <summary>Locates the disk chosen by <paramref name="selector"/> (drive key, file name or disk id), or the first disk.</summary>
    /// <exception cref="OvaFormatException">The disk is missing, not a regular member, or its descriptor points outside the archive.</exception>
    /// <exception cref="NotSupportedException">The disk is compressed (sparse/stream VMDK, qcow2, gzip, chunks): it needs converting.</exception>
    public static InnerDiskLocation Locate(OvaPackage package, Stream archive, string? selector)
    {
        ArgumentNullException.ThrowIfNull(package);
        ArgumentNullException.ThrowIfNull(archive);
        var disk = Select(package, selector);
        var file = disk.File!;
        if (file.Compression is not null || file.ChunkSize is not null)
        {
            throw new NotSupportedException($"{file.Href} is {(file.Compression is not null ? "gzip-compressed" : "chunked")}: it cannot be served in place; use 'engine ova import'");
        }

        var member = RegularMember(package, package.MemberNameOf(file.Href));
        var first = ReadAt(archive, member.DataOffset, (int)Math.Min(member.Size, SparseExtentHeader.Size));
        switch (ImageFormatDetector.Detect(first))
        {
            case ImageFormat.Raw:
                return new InnerDiskLocation(disk.Address, member.DataOffset, member.Size, member.SafeName!);
            case ImageFormat.VmdkDescriptor:
                return FlatExtent(package, archive, disk, member);
            case ImageFormat.SparseVmdk:
                throw new NotSupportedException($"{file.Href} is a sparse or streamOptimized VMDK: it cannot be served in place; use 'engine ova import'");
            default:
                throw new NotSupportedException($"{file.Href} is qcow2: it cannot be served in place yet");
        }
    }

    private static InnerDiskLocation FlatExtent(OvaPackage package, Stream archive, OvfDiskAttachment disk, TarEntry member)
    {
        var name = $"{package.SourceName}/{member.SafeName}";
        if (member.Size > VmdkDescriptor.MaxBytes)
        {
            throw new OvaFormatException($"{name}: VMDK descriptor file of {member.Size} bytes is above the {VmdkDescriptor.MaxBytes}-byte limit");
        }

        var descriptor = VmdkDescriptor.Parse(ReadAt(archive, member.DataOffset, (int)member.Size), name);
        if (descriptor.HasParent)
        {
            throw new OvaFormatException($"{name}: delta disk with parent '{descriptor.ParentFileNameHint}' refused");
        }

        if (descriptor.Extents.Count != 1 || !descriptor.Extents[0].Type.Equals("FLAT", StringComparison.OrdinalIgnoreCase) || descriptor.Extents[0].FileName is not { } extentFile)
        {
            throw new OvaFormatException($"{name}: only a descriptor with a single FLAT extent can be served, found {descriptor.Describe()}");
        }

        var extent = descriptor.Extents[0];
        var folder = OvaPackage.FolderOf(member.SafeName!);
        var normalized = extentFile.Contains('/', StringComparison.Ordinal) ? null : TarNames.Normalize(OvaPackage.Join(folder, extentFile));
        var target = normalized is null ? null : package.FindMember(normalized);
        if (target is null)
        {
            throw new OvaFormatException($"{name}: FLAT extent \"{extentFile}\" is not a member next to the descriptor in the archive; refused (it would read a host file)");
        }

        RefuseSparse(target, name);
        if (target.Type != TarEntryType.RegularFile)
        {
            throw new OvaFormatException($"{name}: extent member '{target.Name}' is a {target.Type}, not a regular file; refused");
        }

        var length = extent.Sectors * 512;
        var offset = extent.Offset * 512;
        if (extent.Sectors < 0 || extent.Offset < 0 || offset > target.Size || length > target.Size - offset)
        {
            throw new OvaFormatException($"{name}: extent of {length} bytes at {offset} does not fit in member '{target.Name}' ({target.Size} bytes)");
        }

        return new InnerDiskLocation(disk.Address, target.DataOffset + offset, length, $"{member.SafeName} -> {target.SafeName}");
    }

    private static OvfDiskAttachment Select(OvaPackage package, string? selector)
    {
        foreach (var system in package.Descriptor.VirtualSystems)
        {
            foreach (var disk in system.Disks)
            {
                if (disk.File is null)
                {
                    continue;
                }

                if (selector is null || disk.Address == selector || disk.Definition?.DiskId == selector || disk.File.Href == selector || Path.GetFileName(disk.File.Href) == selector)
                {
                    return disk;
                }
            }
        }

        throw new OvaFormatException(selector is null ? $"{package.SourceName}: no disk with a file" : $"{package.SourceName}: no disk matches '{selector}'");
    }

    /// <summary>A sparse member's stored bytes are not the file's bytes at the same offsets, so it cannot be served in place.</summary>
    private static void RefuseSparse(TarEntry member, string name)
    {
        if (member.Type == TarEntryType.SparseFile)
        {
            throw new NotSupportedException($"{name}: '{member.Name}' is stored as a GNU sparse member (tar --sparse): it cannot be served in place; use 'engine ova import'");
        }
    }

    private static TarEntry RegularMember(OvaPackage package, string name)
    {
        var member = package.FindMember(name) ?? throw new OvaFormatException($"{package.SourceName}: disk file '{name}' not found in the archive");
        RefuseSparse(member, package.SourceName);
        if (member.Type != TarEntryType.RegularFile)
        {
            var target = member.LinkName is null ? string.Empty : $" pointing at '{member.LinkName}'";
            throw new OvaFormatException($"{package.SourceName}: disk file '{name}' is a {member.Type}{target}, not a regular file; refused");
        }

        return member;
    }

    private static byte[] ReadAt(Stream archive, long offset, int length)
    {
        var buffer = new byte[length];
        archive.Position = offset;
        archive.ReadExactly(buffer);
        return buffer;
    }
}
