namespace Engine.Backup.Containers.Walking;

/// <summary>A set of <see cref="ExcludePattern"/>s: a path is excluded when any of them matches.</summary>
internal sealed class ExcludeFilter
{
    private readonly ExcludePattern[] _patterns;

    /// <summary>Parses the patterns.</summary>
    /// <exception cref="ArgumentException">A pattern names no path.</exception>
    public ExcludeFilter(IEnumerable<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        var list = new List<ExcludePattern>();
        foreach (var pattern in patterns)
        {
            list.Add(new ExcludePattern(pattern));
        }

        _patterns = list.ToArray();
    }

    /// <summary>A filter that excludes nothing.</summary>
    public static ExcludeFilter None { get; } = new([]);

    /// <summary>The patterns, in the order given.</summary>
    public IReadOnlyList<ExcludePattern> Patterns => _patterns;

    /// <summary>Whether <paramref name="path"/> (relative to the archive root) is excluded.</summary>
    public bool IsExcluded(ReadOnlySpan<char> path, bool isDirectory)
    {
        foreach (var pattern in _patterns)
        {
            if (pattern.Matches(path, isDirectory))
            {
                return true;
            }
        }

        return false;
    }
}
