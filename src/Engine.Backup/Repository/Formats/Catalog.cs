using Engine.Backup.Containers;

namespace Engine.Backup.Repository.Formats;

/// <summary>
/// A catalog read into memory: the entries in archive order, where each regular file's data starts in the data
/// stream, and the chunks that cut that stream.
/// </summary>
internal sealed class Catalog
{
    private readonly List<ContainerEntry> _entries = [];
    private readonly Dictionary<string, FileContent> _files = new(StringComparer.Ordinal);

    public IReadOnlyList<ContainerEntry> Entries => _entries;

    public DataStream Data { get; private set; } = new([]);

    /// <summary>The content of the regular file at <paramref name="path"/>, or null.</summary>
    public FileContent? ContentOf(string path) => _files.GetValueOrDefault(path);

    public void Add(ContainerEntry entry, long dataStart)
    {
        _entries.Add(entry);
        if (entry.Kind == ContainerEntryKind.RegularFile)
        {
            _files[entry.Path] = new FileContent(entry, dataStart);
        }
    }

    public void SetChunks(FileChunk[] chunks) => Data = new DataStream(chunks);
}
