using System.Formats.Tar;
using System.IO.Enumeration;

namespace ImageFiles;

/// <summary>
/// A container's tree as a pax tar, with member names as vzdump writes them (<c>./</c>, <c>./etc/</c>,
/// <c>./etc/hostname</c>) so <c>tar xpf</c> with PVE's flags restores it. Keeps modes, owners, times (to the
/// second), symbolic links, FIFOs and device nodes; hard links become copies, xattrs and ACLs are not kept.
/// </summary>
internal static class ContainerTar
{
    /// <summary>Writes <paramref name="sources"/> (<c>.</c> or <c>./MOUNTPOINT</c>) below <paramref name="root"/>; returns the member count.</summary>
    /// <param name="excludePatterns">vzdump's: <c>/tmp/?*</c> is anchored at the root, a pattern without a leading '/' matches names anywhere.</param>
    public static async Task<int> WriteAsync(string root, IReadOnlyList<string> sources, IReadOnlyList<string> excludePatterns, string target, CancellationToken cancellationToken)
    {
        var written = new HashSet<string>(StringComparer.Ordinal);
        var stream = File.Create(target);
        await using (stream.ConfigureAwait(false))
        {
            var writer = new TarWriter(stream, TarEntryFormat.Pax, leaveOpen: true);
            await using (writer.ConfigureAwait(false))
            {
                foreach (var source in sources)
                {
                    await AddAsync(writer, root, Path.GetFullPath(Path.Combine(root, source)), excludePatterns, written, cancellationToken).ConfigureAwait(false);
                }
            }

            stream.Flush(flushToDisk: true);
        }

        return written.Count;
    }

    private static async Task AddAsync(TarWriter writer, string root, string path, IReadOnlyList<string> excludes, HashSet<string> written, CancellationToken cancellationToken)
    {
        var relative = Path.GetRelativePath(root, path);
        var isDirectory = Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null;
        var member = relative == "." ? "./" : "./" + relative + (isDirectory ? "/" : "");
        if (IsExcluded("/" + relative, Path.GetFileName(path), excludes) || !written.Add(member))
        {
            return; // excluded, or a mount point's source already written under "."
        }

        await writer.WriteEntryAsync(path, member, cancellationToken).ConfigureAwait(false);
        if (isDirectory)
        {
            foreach (var child in Directory.EnumerateFileSystemEntries(path).Order(StringComparer.Ordinal))
            {
                await AddAsync(writer, root, child, excludes, written, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static bool IsExcluded(string rooted, string name, IReadOnlyList<string> excludes)
    {
        // vzdump leaves lost+found out of every container archive.
        if (rooted == "/lost+found")
        {
            return true;
        }

        foreach (var pattern in excludes)
        {
            if (FileSystemName.MatchesSimpleExpression(pattern, pattern.StartsWith('/') ? rooted : name, ignoreCase: false))
            {
                return true;
            }
        }

        return false;
    }
}
