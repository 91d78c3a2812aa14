namespace Engine.Ova.Volumes;

/// <summary>
/// A PVE import volume name such as <c>local:import/appliance.ova/disk-1.vmdk</c>: the storage, the archive in the
/// storage's import folder, the file inside the archive and that file's format, as PVE's directory plugin reads it.
/// </summary>
/// <param name="Storage">The storage ID (<c>local</c>).</param>
/// <param name="Archive">The archive's file name in the import folder (<c>appliance.ova</c>).</param>
/// <param name="InnerFile">The member inside the archive (<c>disk-1.vmdk</c>).</param>
/// <param name="Format">The inner file's format from its extension: <c>vmdk</c>, <c>qcow2</c> or <c>raw</c>.</param>
internal sealed record ImportVolumeName(string Storage, string Archive, string InnerFile, string Format)
{
    private const string ImportPrefix = "import/";

    /// <summary>The volume ID as PVE prints it.</summary>
    public override string ToString() => $"{Storage}:{ImportPrefix}{Archive}/{InnerFile}";

    /// <summary>Parses a volume ID; anything PVE would refuse is refused with the reason.</summary>
    /// <exception cref="FormatException">The text is not an OVA import volume name.</exception>
    public static ImportVolumeName Parse(string volumeId)
    {
        ArgumentNullException.ThrowIfNull(volumeId);
        var colon = volumeId.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new FormatException($"'{volumeId}': expected STORAGE:import/ARCHIVE.ova/FILE");
        }

        var storage = volumeId[..colon];
        if (!IsStorageId(storage))
        {
            throw new FormatException($"'{volumeId}': storage ID '{storage}' must start with a letter, end with a letter or digit and contain only letters, digits, '-', '_' and '.'");
        }

        var volume = volumeId[(colon + 1)..];
        if (!volume.StartsWith(ImportPrefix, StringComparison.Ordinal))
        {
            throw new FormatException($"'{volumeId}': not an import volume (expected '{ImportPrefix}' after the storage)");
        }

        var path = volume[ImportPrefix.Length..];
        var ova = path.IndexOf(".ova/", StringComparison.Ordinal);
        if (ova <= 0)
        {
            throw new FormatException($"'{volumeId}': expected import/ARCHIVE.ova/FILE");
        }

        var archive = path[..(ova + 4)];
        var inner = path[(ova + 5)..];
        CheckSafe(volumeId, archive, "archive name");
        CheckSafe(volumeId, inner, "inner file name");
        var dot = inner.LastIndexOf('.');
        var format = dot <= 0 ? string.Empty : inner[(dot + 1)..];
        if (format is not ("vmdk" or "qcow2" or "raw"))
        {
            throw new FormatException($"'{volumeId}': inner file '{inner}' must end in .vmdk, .qcow2 or .raw");
        }

        return new ImportVolumeName(storage, archive, inner, format);
    }

    /// <summary>Whether <paramref name="name"/> uses only PVE's safe characters (letters, digits, space, <c>-.+=_</c>).</summary>
    public static bool IsSafeName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is ' ' or '-' or '.' or '+' or '=' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    private static void CheckSafe(string volumeId, string name, string what)
    {
        if (!IsSafeName(name) || name is "." or "..")
        {
            throw new FormatException($"'{volumeId}': {what} '{name}' may only contain letters, digits, spaces and -.+=_ (no '/')");
        }
    }

    private static bool IsStorageId(string id)
    {
        if (id.Length < 2 || !char.IsAsciiLetter(id[0]) || !char.IsAsciiLetterOrDigit(id[^1]))
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }
}
