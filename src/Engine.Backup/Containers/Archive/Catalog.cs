namespace Engine.Backup.Containers.Archive;

/// <summary>A catalog read into memory: the entries in archive order and each regular file's chunks.</summary>
internal sealed class Catalog
{
    private readonly List<ContainerEntry> _entries = [];
    private readonly Dictionary<string, FileContent> _files = new(StringComparer.Ordinal);

    public IReadOnlyList<ContainerEntry> Entries => _entries;

    /// <summary>The content of the regular file at <paramref name="path"/>, or null.</summary>
    public FileContent? ContentOf(string path) => _files.GetValueOrDefault(path);

    public void Add(ContainerEntry entry, List<FileChunk> chunks)
    {
        _entries.Add(entry);
        if (entry.Kind == ContainerEntryKind.RegularFile)
        {
            _files[entry.Path] = new FileContent(entry, chunks.ToArray());
        }
    }
}
