using System.Diagnostics.CodeAnalysis;

namespace Engine.Backup.S3;

/// <summary>
/// Where an S3 repository lives: <c>s3://BUCKET/PREFIX</c>. The prefix may be empty (the repository fills the bucket);
/// every object's key is <c>PREFIX/</c> followed by its <c>ObjectName.Key</c>.
/// </summary>
public sealed record S3RepositoryLocation
{
    /// <summary>The URL scheme that marks an S3 repository.</summary>
    public const string Scheme = "s3://";

    private S3RepositoryLocation(string bucket, string prefix)
    {
        Bucket = bucket;
        Prefix = prefix;
    }

    /// <summary>The bucket's name.</summary>
    public string Bucket { get; }

    /// <summary>The key prefix without leading or trailing slash; empty for the bucket's root.</summary>
    public string Prefix { get; }

    /// <summary>Whether <paramref name="repository"/> names an S3 repository (starts with <c>s3://</c>), not a directory.</summary>
    public static bool IsS3(string? repository) => repository?.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>Parses <c>s3://BUCKET[/PREFIX]</c>.</summary>
    /// <exception cref="FormatException">Not an S3 URL, or the bucket name or prefix is invalid; the message says why.</exception>
    public static S3RepositoryLocation Parse(string repository)
    {
        if (!TryParse(repository, out var location, out var error))
        {
            throw new FormatException(error);
        }

        return location;
    }

    /// <summary>Parses <c>s3://BUCKET[/PREFIX]</c>; on failure <paramref name="error"/> says what is wrong with it.</summary>
    public static bool TryParse(string? repository, [NotNullWhen(true)] out S3RepositoryLocation? location, [NotNullWhen(false)] out string? error)
    {
        location = null;
        if (!IsS3(repository))
        {
            error = $"'{repository}' is not an S3 repository URL (s3://BUCKET/PREFIX)";
            return false;
        }

        var rest = repository![Scheme.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..].Trim('/');
        if (BucketNameProblem(bucket) is { } bucketProblem)
        {
            error = $"'{repository}': bucket name '{bucket}' {bucketProblem}";
            return false;
        }

        if (PrefixProblem(prefix) is { } prefixProblem)
        {
            error = $"'{repository}': prefix '{prefix}' {prefixProblem}";
            return false;
        }

        location = new S3RepositoryLocation(bucket, prefix);
        error = null;
        return true;
    }

    /// <summary>The full key of an object whose repository-relative key is <paramref name="relativeKey"/>.</summary>
    public string KeyOf(string relativeKey) => Prefix.Length == 0 ? relativeKey : string.Concat(Prefix, "/", relativeKey);

    /// <summary>The key prefix that every object of the repository's folder <paramref name="folder"/> starts with (ends in '/').</summary>
    public string FolderPrefix(string folder) => folder.Length == 0 ? KeyOf("") : KeyOf(folder) + "/";

    /// <inheritdoc/>
    public override string ToString() => Prefix.Length == 0 ? Scheme + Bucket : string.Concat(Scheme, Bucket, "/", Prefix);

    // S3's bucket naming rules (the DNS-compatible ones every store accepts).
    private static string? BucketNameProblem(string bucket)
    {
        if (bucket.Length is < 3 or > 63)
        {
            return "must be 3 to 63 characters long";
        }

        foreach (var c in bucket)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.'))
            {
                return "may hold only lower-case letters, digits, '-' and '.'";
            }
        }

        if (!char.IsAsciiLetterOrDigit(bucket[0]) || !char.IsAsciiLetterOrDigit(bucket[^1]))
        {
            return "must start and end with a letter or digit";
        }

        if (bucket.Contains("..", StringComparison.Ordinal))
        {
            return "must not contain '..'";
        }

        return null;
    }

    private static string? PrefixProblem(string prefix)
    {
        if (prefix.Length == 0)
        {
            return null;
        }

        if (prefix.Length > 512)
        {
            return "is longer than 512 characters";
        }

        foreach (var segment in prefix.Split('/'))
        {
            if (segment.Length == 0 || segment is "." or "..")
            {
                return "has an empty, '.' or '..' segment";
            }

            foreach (var c in segment)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '+' or ':'))
                {
                    return $"may hold only letters, digits and '._-+:' between slashes (found '{c}')";
                }
            }
        }

        return null;
    }
}
