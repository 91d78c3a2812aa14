using Engine.Backup.Containers;

namespace Engine.Backup.Repository.Formats;

/// <summary>
/// A catalog read into memory: the entries in archive order, where each regular file's data starts in the data
/// stream, and the chunks that cut that stream.
/// </summary>
internal sealed class Catalog
{
    private readonly List<ContainerEntry> _entries = [];
    private readonly List<long> _dataStarts = [];
    private Dictionary<string, FileContent>? _files;

    public IReadOnlyList<ContainerEntry> Entries => _entries;

    /// <summary>The format version it was written in (see <see cref="CatalogFormat"/>).</summary>
    public uint Version { get; set; } = CatalogFormat.Version;

    public DataStream Data { get; private set; } = new([]);

    /// <summary>Where the data of entry <paramref name="index"/> (a regular file) starts in the data stream.</summary>
    public long DataStartOf(int index) => _dataStarts[index];

    /// <summary>
    /// The content of the regular file at <paramref name="path"/>, or null. The index by path is built on first use:
    /// a backup reading the catalog as its reference walks it in order and never asks.
    /// </summary>
    public FileContent? ContentOf(string path)
    {
        if (_files is null)
        {
            var files = new Dictionary<string, FileContent>(StringComparer.Ordinal);
            for (var i = 0; i < _entries.Count; i++)
            {
                if (_entries[i].Kind == ContainerEntryKind.RegularFile)
                {
                    files[_entries[i].Path] = new FileContent(_entries[i], _dataStarts[i]);
                }
            }

            _files = files;
        }

        return _files.GetValueOrDefault(path);
    }

    public void Add(ContainerEntry entry, long dataStart)
    {
        _entries.Add(entry);
        _dataStarts.Add(dataStart);
    }

    public void SetChunks(FileChunk[] chunks) => Data = new DataStream(chunks);
}
