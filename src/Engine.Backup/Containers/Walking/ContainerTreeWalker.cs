using System.IO.Enumeration;
using Engine.Blocks;
using Engine.Blocks.Native;
using Engine.Sources;

namespace Engine.Backup.Containers.Walking;

/// <summary>
/// Walks a container's root directory as PVE hands it to a backup provider (mechanism <c>directory</c>): the
/// snapshot of the root filesystem under <see cref="Root"/>, and its <c>sources</c>, <c>.</c> for the root and
/// <c>./mp/...</c> for each mount point. Every file is taken with <c>lstat</c> semantics (symlinks are never
/// followed); below a source the walk stays on that source's filesystem (a foreign mount point is archived as an empty
/// directory) except into other sources. Entries come depth-first, a directory before its children, children sorted
/// by name (code point order), so an unchanged tree gives an identical sequence.
/// <para>
/// Given the previous backup's catalog as a reference, an entry whose <c>statx</c> matches its reference entry
/// (type, mode, owner, mtime, size, and <see cref="FileIdentity"/>: inode, device, ctime) takes its link target,
/// xattrs and data extents from there: the one <c>statx</c> is all the walk asks of it. ctime covers the xattrs: every
/// <c>setxattr</c>, <c>removexattr</c> and ACL change moves it.
/// </para>
/// </summary>
internal sealed class ContainerTreeWalker
{
    /// <summary>
    /// How close to the walk's start a ctime makes a file "racily clean": a file changed in the same clock tick as
    /// its stat could change again within that tick and keep ctime, mtime and size, so its identity proves nothing.
    /// One second covers filesystems that store whole seconds (ext3-style 128-byte inodes) as well as the kernel's
    /// coarse clock; such a file is recorded without identity and so read again by the next backup.
    /// </summary>
    private const long RacyWindowNs = 1_000_000_000;

    private readonly string[] _sources;
    private readonly ExcludeFilter _excludes;
    private readonly ReferenceCursor? _reference;
    private readonly Dictionary<(ulong Device, ulong Inode), string> _linkTargets = [];
    private readonly List<string> _undecodable = [];
    private long _racyFromNs = long.MinValue;
    private ulong _rootDevice;

    /// <summary>Creates a walker.</summary>
    /// <param name="root">The directory PVE gave (the container's root).</param>
    /// <param name="sources">The parts to archive, relative to the root (<c>.</c>, <c>./mp/data</c>); none means <c>.</c>.</param>
    /// <param name="excludes">Paths to leave out.</param>
    /// <param name="reference">The previous backup's catalog, whose unchanged entries are not examined again; null: none.</param>
    /// <exception cref="ArgumentException">A source leaves the root (<c>..</c>) or is empty.</exception>
    public ContainerTreeWalker(string root, IReadOnlyList<string>? sources, ExcludeFilter? excludes, ReferenceCursor? reference = null)
    {
        _reference = reference;
        ArgumentException.ThrowIfNullOrEmpty(root);
        Root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        _excludes = excludes ?? ExcludeFilter.None;
        var normalized = new List<string>();
        foreach (var source in sources is { Count: > 0 } ? sources : ["."])
        {
            var relative = NormalizeSource(source);
            if (!normalized.Contains(relative))
            {
                normalized.Add(relative);
            }
        }

        normalized.Sort(CodePointComparer.Instance);
        _sources = normalized.ToArray();
    }

    /// <summary>The root directory (absolute).</summary>
    public string Root { get; }

    /// <summary>The sources, relative to the root without <c>./</c> (the root itself is the empty string).</summary>
    public IReadOnlyList<string> Sources => _sources;

    /// <summary>Paths (as decoded, with U+FFFD) of files whose names are not valid UTF-8 and so were left out.</summary>
    public IReadOnlyList<string> UndecodableNames => _undecodable;

    /// <summary>Files that vanished between being listed and being examined (a live tree).</summary>
    public long Vanished { get; private set; }

    /// <summary>
    /// A source as the walker keeps it: <c>.</c> → empty, <c>./mp/data</c> or <c>mp/data/</c> → <c>mp/data</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The source is empty, absolute outside the root, or has a <c>..</c> component.</exception>
    public static string NormalizeSource(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var parts = new List<string>();
        foreach (var part in source.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..")
            {
                throw new ArgumentException($"source '{source}' leaves the container's root", nameof(source));
            }

            if (part != ".")
            {
                parts.Add(part);
            }
        }

        if (source.Length == 0)
        {
            throw new ArgumentException("a source must not be empty (use '.' for the root)", nameof(source));
        }

        return string.Join('/', parts);
    }

    /// <summary>
    /// The entries in archive order, starting with the root (<c>.</c>).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The root or a source is not a directory.</exception>
    /// <exception cref="IOException">A file cannot be examined (the message names it).</exception>
    public IEnumerable<WalkedEntry> Walk(CancellationToken cancellationToken)
    {
        foreach (var source in _sources)
        {
            RequireDirectory(source);
        }

        _racyFromNs = ((DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100) - RacyWindowNs;
        var rootStat = ContainerCalls.LStat(Root);
        _rootDevice = rootStat.Device;
        var rootIsSource = _sources[0].Length == 0;
        yield return Build(".", Root, rootStat);

        var stack = new Stack<Frame>();
        stack.Push(new Frame(Root, "", ListChildren(Root), rootIsSource ? rootStat.Device : null));
        while (stack.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var frame = stack.Peek();
            if (frame.Next == frame.Children.Count)
            {
                stack.Pop();
                continue;
            }

            var name = frame.Children[frame.Next++];
            var relative = frame.Relative.Length == 0 ? name : frame.Relative + "/" + name;
            var isSource = IsSource(relative);
            var leadsToSource = isSource || LeadsToSource(relative);
            if (frame.Device is null && !leadsToSource)
            {
                continue; // outside every source: only the path down to one is archived
            }

            var host = frame.Host + "/" + name;
            if (!ContainerCalls.TryLStat(host, out var stat, out var errno))
            {
                if (errno == Errno.ENOENT && name.Contains('\uFFFD', StringComparison.Ordinal))
                {
                    // The name's bytes are not UTF-8: the decoded name does not exist. Entry paths are strings, so
                    // such a file cannot be archived; it is reported, never silently lost.
                    _undecodable.Add(relative);
                    continue;
                }

                if (errno == Errno.ENOENT)
                {
                    Vanished++;
                    continue;
                }

                throw ContainerCalls.Error(errno, "lstat", host);
            }

            var isDirectory = stat.FileType == Statx.Directory;
            if (!leadsToSource && _excludes.IsExcluded(relative, isDirectory))
            {
                continue;
            }

            WalkedEntry walked;
            try
            {
                walked = Build(relative, host, stat);
            }
            catch (IOException e) when (e.HResult == Errno.ENOENT)
            {
                Vanished++;
                continue;
            }

            yield return walked;
            if (!isDirectory)
            {
                continue;
            }

            ulong? device;
            if (isSource)
            {
                device = stat.Device;
            }
            else if (frame.Device == stat.Device)
            {
                device = frame.Device;
            }
            else if (leadsToSource)
            {
                device = null; // another filesystem on the way to a source: only that path
            }
            else
            {
                continue; // a mount point of a filesystem that is not a source: archived empty
            }

            List<string> children;
            try
            {
                children = ListChildren(host);
            }
            catch (DirectoryNotFoundException)
            {
                Vanished++; // removed after it was examined: archived as an empty directory
                continue;
            }

            stack.Push(new Frame(host, relative, children, device));
        }
    }

    private bool IsSource(string relative) => Array.BinarySearch(_sources, relative, CodePointComparer.Instance) >= 0;

    private bool LeadsToSource(string relative)
    {
        foreach (var source in _sources)
        {
            if (source.Length > relative.Length && source[relative.Length] == '/' && source.StartsWith(relative, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private void RequireDirectory(string source)
    {
        var path = Root;
        foreach (var part in source.Split('/', StringSplitOptions.RemoveEmptyEntries).Prepend("."))
        {
            path = part == "." ? path : path + "/" + part;
            if (!ContainerCalls.TryLStat(path, out var stat, out _) || stat.FileType != Statx.Directory)
            {
                throw new DirectoryNotFoundException($"source '{(source.Length == 0 ? "." : "./" + source)}' is not a directory below {Root}: {path} is missing or not a directory (symlinks are not followed)");
            }
        }
    }

    private WalkedEntry Build(string relative, string host, in Statx stat)
    {
        var mode = stat.Mode & 0xFFF;
        var type = stat.FileType;
        // The root's own filesystem is device 0: PVE's snapshot mode mounts a fresh snapshot (a new st_dev) for each
        // backup, and its files are still the reference's files.
        var identity = new FileIdentity(stat.ChangeTimeNs, stat.Inode, stat.Device == _rootDevice ? 0 : stat.Device);
        FileIdentity? recorded = stat.ChangeTimeNs >= _racyFromNs ? null : identity;
        if (type == Statx.RegularFile && stat.LinkCount > 1)
        {
            var key = (stat.Device, stat.Inode);
            if (_linkTargets.TryGetValue(key, out var first))
            {
                return new WalkedEntry(new ContainerEntry
                {
                    Path = relative, Kind = ContainerEntryKind.HardLink, LinkTarget = first, Mode = mode,
                    Uid = stat.Uid, Gid = stat.Gid, ModificationTimeNs = stat.ModificationTimeNs, Identity = recorded,
                }, host);
            }

            _linkTargets.Add(key, relative);
        }

        var kind = type switch
        {
            Statx.Directory => ContainerEntryKind.Directory,
            Statx.RegularFile => ContainerEntryKind.RegularFile,
            Statx.SymbolicLink => ContainerEntryKind.Symlink,
            Statx.CharacterDevice => ContainerEntryKind.CharacterDevice,
            Statx.BlockDevice => ContainerEntryKind.BlockDevice,
            Statx.Fifo => ContainerEntryKind.Fifo,
            Statx.Socket => ContainerEntryKind.Socket,
            _ => throw new IOException($"{host}: unknown file type 0{type:o}"),
        };
        var isDevice = kind is ContainerEntryKind.CharacterDevice or ContainerEntryKind.BlockDevice;
        var size = kind == ContainerEntryKind.RegularFile ? (long)stat.Size : 0;
        var referenceIndex = _reference?.Find(relative) ?? -1;
        if (referenceIndex >= 0 && _reference!.Catalog.Entries[referenceIndex] is var previous && Unchanged(previous, kind, stat, identity))
        {
            var reused = new ContainerEntry
            {
                Path = relative,
                Kind = kind,
                Mode = mode,
                Uid = stat.Uid,
                Gid = stat.Gid,
                ModificationTimeNs = stat.ModificationTimeNs,
                Size = size,
                LinkTarget = previous.LinkTarget,
                DeviceMajor = previous.DeviceMajor,
                DeviceMinor = previous.DeviceMinor,
                Xattrs = previous.Xattrs,
                DataExtents = previous.DataExtents,
                Identity = recorded,
            };
            return new WalkedEntry(reused, host, reused.DataLength > 0 ? referenceIndex : -1);
        }

        return new WalkedEntry(new ContainerEntry
        {
            Path = relative,
            Kind = kind,
            Mode = mode,
            Uid = stat.Uid,
            Gid = stat.Gid,
            ModificationTimeNs = stat.ModificationTimeNs,
            Size = size,
            LinkTarget = kind == ContainerEntryKind.Symlink ? ContainerCalls.ReadLinkTarget(host) : null,
            DeviceMajor = isDevice ? (int)stat.RdevMajor : 0,
            DeviceMinor = isDevice ? (int)stat.RdevMinor : 0,
            Xattrs = ContainerCalls.ListXattrs(host),
            DataExtents = kind == ContainerEntryKind.RegularFile ? DataExtentsOf(host, size, (long)stat.Blocks) : null,
            Identity = recorded,
        }, host);
    }

    /// <summary>
    /// Whether the file is the one the reference entry recorded and unchanged since: same inode on the same device,
    /// same ctime (which any change of content, owner, mode or xattrs moves), and the same type, mode, owner, mtime and
    /// size. An entry from a catalog without identities never matches.
    /// </summary>
    private static bool Unchanged(ContainerEntry previous, ContainerEntryKind kind, in Statx stat, FileIdentity identity) =>
        previous.Identity == identity &&
        previous.Kind == kind &&
        previous.Mode == (stat.Mode & 0xFFF) &&
        previous.Uid == stat.Uid &&
        previous.Gid == stat.Gid &&
        previous.ModificationTimeNs == stat.ModificationTimeNs &&
        previous.Size == (kind == ContainerEntryKind.RegularFile ? (long)stat.Size : 0) &&
        (kind is not (ContainerEntryKind.CharacterDevice or ContainerEntryKind.BlockDevice) ||
            (previous.DeviceMajor == (int)stat.RdevMajor && previous.DeviceMinor == (int)stat.RdevMinor));

    /// <summary>
    /// The data ranges of a file with holes, from SEEK_DATA / SEEK_HOLE; null for a dense file. A file whose allocated
    /// blocks cover its size has no hole worth finding and is not asked (saves an open per file).
    /// </summary>
    private static List<SourceRange>? DataExtentsOf(string host, long size, long blocks)
    {
        if (size == 0 || blocks * 512 >= size)
        {
            return null;
        }

        var extents = new List<SourceRange>();
        using var handle = ContainerCalls.OpenRead(host);
        var position = 0L;
        while (position < size)
        {
            var data = ContainerCalls.Seek(handle, position, LibC.SEEK_DATA, host);
            if (data < 0 || data >= size)
            {
                break;
            }

            var hole = ContainerCalls.Seek(handle, data, LibC.SEEK_HOLE, host);
            hole = hole < 0 ? size : Math.Min(hole, size);
            extents.Add(new SourceRange(data, hole - data));
            position = hole;
        }

        return extents is [{ Offset: 0 } only] && only.Length == size ? null : extents;
    }

    private static List<string> ListChildren(string directory)
    {
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = false,
            IgnoreInaccessible = false,
            AttributesToSkip = 0,
            ReturnSpecialDirectories = false,
        };
        var names = new List<string>(new FileSystemEnumerable<string>(directory, static (ref entry) => entry.FileName.ToString(), options));
        names.Sort(CodePointComparer.Instance);
        return names;
    }

    private sealed class Frame(string host, string relative, List<string> children, ulong? device)
    {
        public string Host { get; } = host;

        public string Relative { get; } = relative;

        public List<string> Children { get; } = children;

        public ulong? Device { get; } = device;

        public int Next { get; set; }
    }
}
