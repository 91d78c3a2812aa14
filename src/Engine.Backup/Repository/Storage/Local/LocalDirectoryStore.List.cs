using System.IO.Enumeration;
using System.Runtime.CompilerServices;
using Engine.Blocks.Native;

namespace Engine.Backup.Repository.Storage.Local;

/// <summary>Listing one kind's folder.</summary>
public sealed partial class LocalDirectoryStore
{
    /// <inheritdoc/>
    /// <remarks>
    /// Walks the kind's folder without descending into links; files whose relative path is not a name of that kind
    /// (the chunk store's <c>.lock</c>, a stray file, a chunk in the wrong fan-out folder) are left out. A folder
    /// removed while the walk runs (a garbage collection's rmdir) is skipped.
    /// </remarks>
    public async IAsyncEnumerable<ObjectInfo> ListAsync(ObjectKind kind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (kind == ObjectKind.Config)
        {
            if (await StatAsync(ObjectName.Config, cancellationToken).ConfigureAwait(false) is { } config)
            {
                yield return config;
            }

            yield break;
        }

        var folder = ObjectName.FolderOf(kind);
        var path = $"{Location}/{folder}";
        var type = RepositoryCalls.LinkType(path, out _, out _);
        if (type < 0)
        {
            yield break;
        }

        if (type != Statx.Directory)
        {
            throw NotFollowed(folder, folder);
        }

        using var entries = Walk(path, folder).GetEnumerator();
        while (Next(entries, folder))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (key, length, modified) = entries.Current;
            if (ObjectName.TryParseKey(kind, key, out var name))
            {
                yield return new ObjectInfo(name, length, modified);
            }
        }

    }

    private bool Next(IEnumerator<(string Key, long Length, DateTimeOffset Modified)> entries, string folder)
    {
        try
        {
            return entries.MoveNext();
        }
        catch (IOException e)
        {
            throw new ObjectStoreException(Location, folder, $"list: {e.Message}", innerException: e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ObjectStoreException(Location, folder, $"list: {e.Message}", innerException: e);
        }
    }

    /// <summary>Every regular file below <paramref name="path"/>, as its key; links (to files or folders) are neither returned nor entered.</summary>
    private static FileSystemEnumerable<(string Key, long Length, DateTimeOffset Modified)> Walk(string path, string folder)
    {
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            AttributesToSkip = FileAttributes.None,
            IgnoreInaccessible = false,
            ReturnSpecialDirectories = false,
        };
        var prefixLength = path.Length + 1;
        return new FileSystemEnumerable<(string, long, DateTimeOffset)>(
            path,
            (ref FileSystemEntry entry) => (
                string.Concat(folder, "/", entry.ToFullPath().AsSpan(prefixLength)),
                entry.Length,
                entry.LastWriteTimeUtc),
            options)
        {
            ShouldIncludePredicate = (ref FileSystemEntry entry) => !entry.IsDirectory && (entry.Attributes & FileAttributes.ReparsePoint) == 0,
            ShouldRecursePredicate = (ref FileSystemEntry entry) => (entry.Attributes & FileAttributes.ReparsePoint) == 0,
        };
    }
}
