namespace Engine.Qcow2.Reading;

/// <summary>How qemu turns the file name stored in an image (backing file, external data file) into a path.</summary>
internal static class BackingPaths
{
    /// <summary>
    /// The path of <paramref name="name"/> as named by the image at <paramref name="imagePath"/>: an absolute name as
    /// it is, a relative one relative to the image's directory (as the image was named, symlinks not followed), as
    /// qemu's <c>path_combine</c> does. A <c>file:</c> prefix is dropped.
    /// </summary>
    /// <exception cref="Format.Qcow2FormatException">The name uses another protocol (<c>nbd:</c>, <c>json:</c>…).</exception>
    public static string Resolve(string imagePath, string name)
    {
        if (HasProtocol(name, out var protocol))
        {
            if (protocol != "file")
            {
                throw new Format.Qcow2FormatException(imagePath, -1,
                    $"'{name}' uses the '{protocol}:' protocol; Engine opens only local files");
            }

            name = name[(protocol.Length + 1)..];
        }

        if (Path.IsPathRooted(name))
        {
            return name;
        }

        var directory = Path.GetDirectoryName(imagePath);
        return string.IsNullOrEmpty(directory) ? name : Path.Combine(directory, name);
    }

    /// <summary>qemu's <c>path_has_protocol</c>: a ':' before any '/' or '\'.</summary>
    private static bool HasProtocol(string name, out string protocol)
    {
        var end = name.AsSpan().IndexOfAny(":/\\");
        protocol = end > 0 && name[end] == ':' ? name[..end] : "";
        return protocol.Length > 0;
    }
}
