using System.Globalization;
using Engine.Ova.Ovf;

namespace Engine.Ova.Import;

/// <summary>
/// The names of the files an import writes into the target folder. They never come from the archive unchecked: a
/// disk file's own name is kept only when it is plain (letters, digits and <c>-._+=</c>, not hidden, not too long)
/// and not taken yet; anything else, and every blank disk, is named <c>disk-N</c> after the disk's position in the
/// virtual system. The importer joins the result with the target folder and nothing else.
/// </summary>
internal sealed class OutputNames
{
    /// <summary>Longest name kept from the archive (well below NAME_MAX, leaving room for the temporary prefix and suffix).</summary>
    public const int MaxKeptLength = 128;

    private readonly HashSet<string> _taken = new(StringComparer.Ordinal);

    /// <summary>The output name for the disk at 1-based <paramref name="position"/> in its virtual system.</summary>
    /// <param name="disk">The disk.</param>
    /// <param name="position">Its 1-based position among the virtual system's disks (stable, so names do not depend on --disk).</param>
    /// <param name="extract">Whether the file is copied out as stored (its own extension) rather than converted.</param>
    /// <param name="converted">The extension of a converted disk: <c>.raw</c> or <c>.qcow2</c>.</param>
    public string For(OvfDiskAttachment disk, int position, bool extract, string converted = ".raw")
    {
        ArgumentNullException.ThrowIfNull(disk);
        string? wanted = null;
        var extension = converted;
        if (disk.File is { } file)
        {
            wanted = extract ? Path.GetFileName(file.Href) : Path.GetFileNameWithoutExtension(file.Href) + converted;
            extension = extract ? "." + disk.Format : converted;
        }

        if (wanted is not null && IsPlain(wanted) && _taken.Add(wanted))
        {
            return wanted;
        }

        var stem = "disk-" + position.ToString(CultureInfo.InvariantCulture);
        var name = stem + extension;
        for (var i = 2; !_taken.Add(name); i++)
        {
            name = string.Create(CultureInfo.InvariantCulture, $"{stem}-{i}{extension}");
        }

        return name;
    }

    /// <summary>Whether a name from the archive can be used as it is: one plain, visible file name.</summary>
    public static bool IsPlain(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length is 0 or > MaxKeptLength || name[0] is '.' or '-')
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '+' or '='))
            {
                return false;
            }
        }

        return true;
    }
}
