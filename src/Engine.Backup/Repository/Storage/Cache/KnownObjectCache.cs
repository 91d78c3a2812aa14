using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Engine.Blocks.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engine.Backup.Repository.Storage.Cache;

/// <summary>
/// The chunk names a repository is known to hold, with their lengths, in memory and (optionally) in a file under the
/// user's cache directory (<see cref="DefaultPath"/>), so an incremental backup does not ask the store about every
/// chunk it reuses. The staleness rule: an entry is added only for a chunk this process saw written, found by a
/// stat, or listed in the store, and leaves when it is removed through the cache or found missing; a garbage
/// collection, which removes chunks behind every cache's back, calls <see cref="Invalidate"/>, and a collection by
/// another host is noticed through <c>generation</c>: the caller passes a token that changes with every collection
/// (e.g. the name of the last gc's lock or marker object) and a file written under another token is dropped on open.
/// The file is append-only (a crash loses at most the last line, which is then skipped); removals append a
/// tombstone. Thread-safe.
/// </summary>
public sealed class KnownObjectCache : IDisposable
{
    private const string Magic = "engine-known-chunks 1";

    // The last second DateTimeOffset holds: a larger time in a damaged file is not one.
    private static readonly long MaxUnixSeconds = DateTimeOffset.MaxValue.ToUnixTimeSeconds();

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _fileLock = new();
    private readonly string _generation;
    private readonly ILogger _logger;
    private StreamWriter? _writer;

    /// <summary>
    /// Opens (or starts) the cache at <paramref name="path"/>, or an in-memory cache when it is null. A file from
    /// another <paramref name="generation"/>, or one that cannot be read, is dropped.
    /// </summary>
    public KnownObjectCache(string? path, string generation, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(generation);
        if (generation.AsSpan().ContainsAny('\n', '\r'))
        {
            throw new ArgumentException("the generation must be one line", nameof(generation));
        }

        Path = path;
        _generation = generation;
        _logger = logger ?? NullLogger.Instance;
        if (path is not null)
        {
            Load(path);
            try
            {
                _writer = OpenWriter(path, append: true);
            }
            catch (IOException e)
            {
                // A cache is an optimisation: one that cannot be written (a read-only home) is kept in memory only.
                StorageLog.CacheDropped(_logger, path, e.Message);
            }
        }
    }

    /// <summary>The file, or null for an in-memory cache.</summary>
    public string? Path { get; }

    /// <summary>How many chunks the cache knows.</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// <c>$XDG_CACHE_HOME/engine/&lt;repositoryId&gt;/chunks.known</c> (<c>~/.cache</c> when the variable is unset), the
    /// per-user place for data that may be lost at any time.
    /// </summary>
    public static string DefaultPath(string repositoryId)
    {
        ArgumentException.ThrowIfNullOrEmpty(repositoryId);
        var root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return System.IO.Path.Combine(root, "engine", repositoryId, "chunks.known");
    }

    /// <summary>What the cache knows of a chunk; false for every other kind and for unknown chunks.</summary>
    public bool TryGet(ObjectName name, out ObjectInfo info)
    {
        if (name.Kind == ObjectKind.Chunk && _entries.TryGetValue(name.Name, out var entry))
        {
            info = new ObjectInfo(name, entry.Length, entry.Seen);
            return true;
        }

        info = null!;
        return false;
    }

    /// <summary>Until when the cache knows a chunk to be retained (Object Lock); null when it does not know.</summary>
    internal DateTimeOffset? RetainedUntil(ObjectName name) =>
        name.Kind == ObjectKind.Chunk && _entries.TryGetValue(name.Name, out var entry) ? entry.RetainUntil : null;

    /// <summary>Records that a known chunk's retention was extended to <paramref name="until"/> (an unknown chunk is left unknown).</summary>
    internal void SetRetainedUntil(ObjectName name, DateTimeOffset until)
    {
        if (name.Kind != ObjectKind.Chunk)
        {
            return;
        }

        lock (_fileLock)
        {
            if (_entries.TryGetValue(name.Name, out var entry) && !(entry.RetainUntil >= until))
            {
                _entries[name.Name] = entry with { RetainUntil = until };
                _writer?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name.Name} {entry.Length} {entry.Seen.ToUnixTimeSeconds()} {until.ToUnixTimeSeconds()}"));
            }
        }
    }

    /// <summary>Records that the store holds <paramref name="info"/>'s chunk (other kinds are ignored).</summary>
    public void Add(ObjectInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        if (info.Name.Kind != ObjectKind.Chunk)
        {
            return;
        }

        lock (_fileLock)
        {
            if (_entries.TryAdd(info.Name.Name, new Entry(info.Length, info.LastModified)))
            {
                _writer?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{info.Name.Name} {info.Length} {info.LastModified.ToUnixTimeSeconds()}"));
            }
        }
    }

    /// <summary>
    /// Forgets a chunk (removed, or found missing). The tombstone reaches the file before this returns: the caller
    /// removes the chunk next, and a crash in between must not leave a cache that still vouches for it.
    /// </summary>
    public void Forget(ObjectName name)
    {
        if (name.Kind != ObjectKind.Chunk)
        {
            return;
        }

        // Dictionary and file change under one lock, so the file's order of additions and tombstones is the order
        // they happened in.
        lock (_fileLock)
        {
            if (_entries.TryRemove(name.Name, out _) && _writer is { } writer)
            {
                writer.WriteLine("-" + name.Name);
                writer.Flush();
            }
        }
    }

    /// <summary>Drops everything, in memory and on disk: a garbage collection removed chunks.</summary>
    public void Invalidate()
    {
        lock (_fileLock)
        {
            _entries.Clear();
            if (Path is not null)
            {
                _writer?.Dispose();
                _writer = null;
                try
                {
                    _writer = OpenWriter(Path, append: false);
                }
                catch (IOException e)
                {
                    StorageLog.CacheDropped(_logger, Path, e.Message);
                }

                StorageLog.CacheDropped(_logger, Path, "invalidated");
            }
        }
    }

    /// <summary>Writes buffered entries to the file.</summary>
    public void Flush()
    {
        lock (_fileLock)
        {
            _writer?.Flush();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_fileLock)
        {
            _writer?.Dispose();
            _writer = null;
        }
    }

    /// <summary>Opens the file (0600, its folder 0700: chunk names tell what a repository holds), emptied unless <paramref name="append"/>.</summary>
    private StreamWriter OpenWriter(string path, bool append)
    {
        RepositoryFiles.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        var handle = RepositoryCalls.OpenOrThrow(path, LibC.O_RDWR | LibC.O_CREAT | LibC.O_NOFOLLOW, RepositoryFiles.PrivateFileMode);
        if (!append && LibC.FTruncate(handle, 0) != 0)
        {
            var errno = LibC.LastErrno;
            handle.Dispose();
            throw RepositoryCalls.Error(errno, "ftruncate", path);
        }

        var stream = new FileStream(handle, FileAccess.Write);
        var length = stream.Seek(0, SeekOrigin.End);
        Span<byte> last = stackalloc byte[1];
        var writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\n" };
        if (length == 0)
        {
            writer.WriteLine($"{Magic} {_generation}");
        }
        else if (RandomAccess.Read(handle, last, length - 1) == 1 && last[0] != (byte)'\n')
        {
            // A line torn by a crash: end it, so the next entry starts a line of its own.
            writer.WriteLine();
        }

        return writer;
    }

    private void Load(string path)
    {
        string? reason = null;
        try
        {
            using var reader = new StreamReader(path, Encoding.UTF8);
            if (reader.ReadLine() != $"{Magic} {_generation}")
            {
                reason = "written before the last garbage collection, or by another version";
            }
            else
            {
                while (reader.ReadLine() is { } line)
                {
                    Parse(line);
                }

                return;
            }
        }
        catch (FileNotFoundException)
        {
            return;
        }
        catch (DirectoryNotFoundException)
        {
            return;
        }
        catch (IOException e)
        {
            reason = e.Message;
        }

        _entries.Clear();
        File.Delete(path);
        StorageLog.CacheDropped(_logger, path, reason);
    }

    /// <summary>
    /// One line: <c>NAME LENGTH UNIXTIME</c>, <c>NAME LENGTH UNIXTIME RETAINUNTIL</c> (a later line for the same name
    /// wins), or <c>-NAME</c> for a removal; anything else (a torn last line) is skipped.
    /// </summary>
    private void Parse(string line)
    {
        if (line.StartsWith('-'))
        {
            _entries.TryRemove(line[1..], out _);
            return;
        }

        var parts = line.Split(' ');
        if (parts.Length is 3 or 4 && ObjectName.IsValidName(ObjectKind.Chunk, parts[0]) &&
            long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var length) &&
            long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds <= MaxUnixSeconds)
        {
            DateTimeOffset? retainUntil = parts.Length == 4 && long.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var until) && until <= MaxUnixSeconds
                ? DateTimeOffset.FromUnixTimeSeconds(until)
                : null;
            _entries[parts[0]] = new Entry(length, DateTimeOffset.FromUnixTimeSeconds(seconds), retainUntil);
        }
    }

    private readonly record struct Entry(long Length, DateTimeOffset Seen, DateTimeOffset? RetainUntil = null);
}
