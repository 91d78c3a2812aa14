namespace Engine.Backup.Repository.Storage;

/// <summary>
/// The name of one stored object: its kind and a name within that kind. <see cref="Key"/> is the relative path (local
/// directory) or key below the prefix (S3) every backend stores it at, so both backends lay a repository out alike.
/// </summary>
public readonly record struct ObjectName
{
    /// <summary>Creates a name; <paramref name="name"/> is checked (see <see cref="IsValidName"/>).</summary>
    /// <exception cref="ArgumentException">The name is empty, absolute, has an empty, <c>.</c> or <c>..</c> segment, or a character outside <c>[A-Za-z0-9._:+-]</c> and <c>/</c>; a chunk name also needs at least three characters and no <c>/</c>; the configuration's name is <c>config</c>.</exception>
    public ObjectName(ObjectKind kind, string name)
    {
        if (!IsValidName(kind, name))
        {
            throw new ArgumentException($"invalid {kind} object name '{name}'", nameof(name));
        }

        Kind = kind;
        Name = name;
    }

    /// <summary>The repository's configuration object.</summary>
    public static ObjectName Config { get; } = new(ObjectKind.Config, "config");

    /// <summary>The kind.</summary>
    public ObjectKind Kind { get; }

    /// <summary>The name within the kind (<c>config</c>; a chunk's hex digest; <c>vm/100/2026-12-06T10:00:00Z/manifest.json</c>).</summary>
    public string Name { get; }

    /// <summary>The relative path or key of the object: <c>config</c>, <c>keys/…</c>, <c>locks/…</c>, <c>chunks/ab/abcd…</c>, <c>snapshots/…</c>.</summary>
    public string Key => Kind switch
    {
        ObjectKind.Config => Name,
        ObjectKind.Chunk => string.Concat("chunks/", Name.AsSpan(0, 2), "/", Name),
        _ => string.Concat(FolderOf(Kind), "/", Name),
    };

    /// <summary>The folder (key prefix, without the trailing slash) that holds every object of <paramref name="kind"/>.</summary>
    public static string FolderOf(ObjectKind kind) => kind switch
    {
        ObjectKind.Config => "",
        ObjectKind.Key => "keys",
        ObjectKind.Lock => "locks",
        ObjectKind.Chunk => "chunks",
        ObjectKind.Snapshot => "snapshots",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown object kind"),
    };

    /// <summary>
    /// Parses a relative path or key back into a name; false for anything that is not the key of an object of
    /// <paramref name="kind"/> (a stray file, a temporary upload, a chunk in the wrong fan-out folder).
    /// </summary>
    public static bool TryParseKey(ObjectKind kind, string key, out ObjectName name)
    {
        name = default;
        string candidate;
        if (kind == ObjectKind.Config)
        {
            candidate = key;
        }
        else
        {
            var folder = FolderOf(kind);
            if (key.Length <= folder.Length + 1 || !key.StartsWith(folder, StringComparison.Ordinal) || key[folder.Length] != '/')
            {
                return false;
            }

            candidate = key[(folder.Length + 1)..];
            if (kind == ObjectKind.Chunk)
            {
                // chunks/ab/abcd…: the fan-out folder must be the name's first two characters.
                if (candidate.Length < 6 || candidate[2] != '/' || string.CompareOrdinal(candidate, 0, candidate, 3, 2) != 0)
                {
                    return false;
                }

                candidate = candidate[3..];
            }
        }

        if (!IsValidName(kind, candidate))
        {
            return false;
        }

        name = new ObjectName(kind, candidate);
        return true;
    }

    /// <summary>Whether <paramref name="name"/> is acceptable as a name of <paramref name="kind"/>.</summary>
    public static bool IsValidName(ObjectKind kind, string? name)
    {
        if (string.IsNullOrEmpty(name) || name[0] == '/' || name[^1] == '/')
        {
            return false;
        }

        if (kind == ObjectKind.Chunk && (name.Length < 3 || name.Contains('/', StringComparison.Ordinal)))
        {
            return false;
        }

        // The configuration's key is its name: any other name would be a key of another kind's folder.
        if (kind == ObjectKind.Config && name != "config")
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '+' or '-' or '/'))
            {
                return false;
            }
        }

        foreach (var segment in name.Split('/'))
        {
            if (segment.Length == 0 || segment is "." or "..")
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc/>
    public override string ToString() => Key;
}
