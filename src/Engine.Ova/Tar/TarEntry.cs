namespace Engine.Ova.Tar;

/// <summary>One member of a tar archive, with long names and pax overrides already applied.</summary>
/// <param name="Name">The member name as stored (not normalised).</param>
/// <param name="Type">What the member is.</param>
/// <param name="Size">The file's size: the bytes stored after the header, or for a GNU sparse member its expanded size.</param>
/// <param name="LinkName">The link target of a link member.</param>
/// <param name="HeaderOffset">Offset of the member's first header block (long-name and pax blocks included) in the archive.</param>
/// <param name="DataOffset">Offset of the member's data in the archive.</param>
internal sealed record TarEntry(string Name, TarEntryType Type, long Size, string? LinkName, long HeaderOffset, long DataOffset)
{
    /// <summary>The name with leading <c>./</c> removed, or null if it is absolute, climbs with <c>..</c> or holds a backslash or NUL.</summary>
    public string? SafeName => TarNames.Normalize(Name);

    /// <summary>Bytes stored in the archive for the member (less than <see cref="Size"/> for a sparse member).</summary>
    public long StoredSize { get; init; } = Size;

    /// <summary>Whether the member holds a file's contents: a regular file, or a GNU sparse file (read expanded).</summary>
    public bool IsFile => Type is TarEntryType.RegularFile or TarEntryType.SparseFile;
}
