namespace Engine.Backup.Containers.Walking;

/// <summary>
/// One exclude pattern as vzdump means it (its <c>exclude-path</c> option, handed to tar's <c>--exclude</c>):
/// <list type="bullet">
/// <item>shell wildcards <c>*</c>, <c>?</c> and <c>[...]</c> (<c>[!...]</c> or <c>[^...]</c> negated, ranges,
/// <c>\</c> escapes); as in tar (<c>--wildcards-match-slash</c>), <c>*</c> and <c>?</c> match <c>/</c> too;</item>
/// <item>a leading <c>/</c> anchors the pattern at the archive root (<c>/tmp/?*</c> is everything inside
/// <c>/tmp</c>, not <c>/tmp</c> itself);</item>
/// <item>any other pattern matches in every directory, against the path's trailing components, as tar's
/// non-anchored exclude does (<c>*.log</c> matches <c>var/log/syslog.log</c>, <c>cache</c> matches
/// <c>var/cache</c>);</item>
/// <item>a trailing <c>/</c> matches directories only (<c>cache/</c>).</item>
/// </list>
/// An excluded directory is skipped with everything below it.
/// </summary>
internal sealed class ExcludePattern
{
    private readonly string _glob;

    /// <summary>Parses a pattern.</summary>
    /// <exception cref="ArgumentException">The pattern is empty, or only slashes.</exception>
    public ExcludePattern(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        Text = pattern;
        var glob = pattern.AsSpan();
        if (glob.StartsWith("./", StringComparison.Ordinal))
        {
            // tar archives of a container name their members "./etc/..."; PVE users write both forms.
            glob = glob[1..];
        }

        Anchored = glob.StartsWith('/');
        glob = glob.TrimStart('/');
        DirectoriesOnly = glob.EndsWith('/');
        glob = glob.TrimEnd('/');
        if (glob.IsEmpty)
        {
            throw new ArgumentException($"exclude pattern '{pattern}' names no path", nameof(pattern));
        }

        _glob = glob.ToString();
    }

    /// <summary>The pattern as given.</summary>
    public string Text { get; }

    /// <summary>Whether the pattern is anchored at the archive root (it began with <c>/</c>).</summary>
    public bool Anchored { get; }

    /// <summary>Whether the pattern matches directories only (it ended with <c>/</c>).</summary>
    public bool DirectoriesOnly { get; }

    /// <summary>
    /// Whether the pattern excludes <paramref name="path"/>, relative to the archive root (<c>var/log/x</c>, no leading
    /// <c>./</c> or <c>/</c>).
    /// </summary>
    public bool Matches(ReadOnlySpan<char> path, bool isDirectory)
    {
        if (DirectoriesOnly && !isDirectory)
        {
            return false;
        }

        if (Anchored)
        {
            return Glob.Matches(_glob, path);
        }

        var rest = path;
        while (true)
        {
            if (Glob.Matches(_glob, rest))
            {
                return true;
            }

            var slash = rest.IndexOf('/');
            if (slash < 0)
            {
                return false;
            }

            rest = rest[(slash + 1)..];
        }
    }

    /// <inheritdoc />
    public override string ToString() => Text;
}
