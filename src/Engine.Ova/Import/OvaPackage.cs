using Engine.Ova.Manifest;
using Engine.Ova.Ovf;
using Engine.Ova.Tar;

namespace Engine.Ova.Import;

/// <summary>
/// An OVA's table of contents: every member (headers only: data is seeked over), the descriptor and the manifest.
/// Built from a seekable archive before the data pass, so the importer knows every disk and digest before it
/// writes a byte, wherever the descriptor and manifest sit in the archive.
/// </summary>
public sealed class OvaPackage
{
    private OvaPackage(string sourceName, IReadOnlyList<TarEntry> members, string descriptorName, byte[] descriptorBytes, OvfDescriptor descriptor, OvfManifest? manifest)
    {
        SourceName = sourceName;
        Members = members;
        DescriptorName = descriptorName;
        DescriptorBytes = descriptorBytes;
        Descriptor = descriptor;
        Manifest = manifest;
    }

    /// <summary>The archive's name for messages.</summary>
    public string SourceName { get; }

    /// <summary>All members in archive order.</summary>
    internal IReadOnlyList<TarEntry> Members { get; }

    /// <summary>The descriptor member's normalised name.</summary>
    public string DescriptorName { get; }

    /// <summary>The descriptor's bytes.</summary>
    internal byte[] DescriptorBytes { get; }

    /// <summary>The parsed descriptor.</summary>
    public OvfDescriptor Descriptor { get; }

    /// <summary>The manifest, if the archive has one.</summary>
    internal OvfManifest? Manifest { get; }

    /// <summary>The folder of the descriptor inside the archive ("" at the top).</summary>
    internal string Folder => FolderOf(DescriptorName);

    /// <summary>The member name of a package file (hrefs are relative to the descriptor's folder).</summary>
    internal string MemberNameOf(string href) => Join(Folder, href);

    /// <summary>Scans a seekable archive from its start and leaves it positioned at the start again.</summary>
    /// <exception cref="OvaFormatException">Not a tar, truncated, no or several descriptors, or an invalid descriptor/manifest.</exception>
    public static OvaPackage Scan(Stream archive, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(archive);
        if (!archive.CanSeek)
        {
            throw new ArgumentException("a table of contents needs a seekable archive", nameof(archive));
        }

        var start = archive.Position;
        var members = new List<TarEntry>();
        string? descriptorName = null;
        byte[]? descriptorBytes = null;
        var manifests = new List<(string Name, byte[] Data)>();
        using (var reader = new TarReader(archive, sourceName, leaveOpen: true))
        {
            while (reader.Next() is { } entry)
            {
                members.Add(entry);
                var name = entry.SafeName;
                if (name is null || TarNames.IsAppleDouble(name) || !entry.IsFile)
                {
                    continue;
                }

                if (name.EndsWith(".ovf", StringComparison.OrdinalIgnoreCase))
                {
                    if (descriptorName is not null)
                    {
                        throw new OvaFormatException($"{sourceName}: several descriptors ('{descriptorName}', '{name}'); an OVA holds one");
                    }

                    descriptorName = name;
                    descriptorBytes = reader.ReadAll(OvfParser.MaxDescriptorBytes, "descriptor");
                }
                else if (name.EndsWith(".mf", StringComparison.OrdinalIgnoreCase))
                {
                    manifests.Add((name, reader.ReadAll(OvfManifest.MaxBytes, "manifest")));
                }
            }
        }

        archive.Position = start;
        if (descriptorName is null)
        {
            throw new OvaFormatException($"{sourceName}: no .ovf descriptor in the archive (is it an OVA?)");
        }

        var descriptor = OvfParser.Parse(descriptorBytes, $"{sourceName}/{descriptorName}");
        OvfManifest? manifest = null;
        foreach (var (name, data) in manifests)
        {
            if (FolderOf(name) != FolderOf(descriptorName))
            {
                continue;
            }

            if (manifest is not null)
            {
                throw new OvaFormatException($"{sourceName}: several manifests ('{manifest.Name}', '{name}')");
            }

            manifest = OvfManifest.Parse(data, name, FolderOf(name));
        }

        return new OvaPackage(sourceName, members, descriptorName, descriptorBytes!, descriptor, manifest);
    }

    /// <summary>The one member with this normalised name; null if absent.</summary>
    /// <exception cref="OvaFormatException">The name occurs more than once (tar would extract the last; refused).</exception>
    internal TarEntry? FindMember(string name)
    {
        TarEntry? found = null;
        foreach (var member in Members)
        {
            if (member.SafeName == name)
            {
                if (found is not null)
                {
                    throw new OvaFormatException($"{SourceName}: member '{name}' occurs more than once");
                }

                found = member;
            }
        }

        return found;
    }

    /// <summary>Members whose names are not safe (absolute, climbing, backslashes); they are never used.</summary>
    internal IEnumerable<TarEntry> UnsafeMembers()
    {
        foreach (var member in Members)
        {
            if (member.SafeName is null)
            {
                yield return member;
            }
        }
    }

    internal static string FolderOf(string name)
    {
        var slash = name.LastIndexOf('/');
        return slash < 0 ? string.Empty : name[..slash];
    }

    internal static string Join(string folder, string href) => folder.Length == 0 ? href : folder + "/" + href;
}
