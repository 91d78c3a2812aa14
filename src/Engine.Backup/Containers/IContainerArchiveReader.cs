namespace Engine.Backup.Containers;

/// <summary>
/// Reads a container archive back: its entries in archive order (a directory before its children, a hard link's
/// target before the link) and the content of its regular files. Restores to a directory or to a tar stream are
/// written against this.
/// </summary>
public interface IContainerArchiveReader : IAsyncDisposable
{
    /// <summary>The entries in archive order.</summary>
    IAsyncEnumerable<ContainerEntry> EntriesAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Reads content of a regular file entry at <paramref name="offset"/> into <paramref name="destination"/>; holes read
    /// as zeros. Returns the bytes read, short only at the end of the file.
    /// </summary>
    ValueTask<int> ReadFileAsync(ContainerEntry entry, long offset, Memory<byte> destination, CancellationToken cancellationToken);
}
