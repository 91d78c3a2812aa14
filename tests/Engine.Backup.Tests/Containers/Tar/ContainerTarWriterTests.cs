using System.Globalization;
using System.Text.RegularExpressions;
using Engine.Backup.Containers;
using Engine.Backup.Containers.Tar;

namespace Engine.Backup.Tests.Containers.Tar;

/// <summary>
/// The container tar against GNU tar, the tool Proxmox VE restores it with: listed with <c>tar -tvf</c> and extracted
/// as root with PVE's exact flags, then checked with stat, getfattr, getfacl and the bytes on disk.
/// </summary>
public sealed partial class ContainerTarWriterTests
{
    private static readonly TimeSpan TarTimeout = TimeSpan.FromSeconds(120);

    /// <summary>PVE::LXC::Create::restore_tar_archive: tar xpf - --totals COMMON_TAR_FLAGS -C ROOT --skip-old-files --anchored --exclude ./dev/*.</summary>
    private static string[] PveExtract(string root) =>
    [
        "xpf", "-", "--totals", "--one-file-system", "-p", "--sparse", "--numeric-owner", "--acls", "--xattrs",
        "--xattrs-include=user.*", "--xattrs-include=security.capability", "--warning=no-file-ignored", "--warning=no-xattr-write",
        "-C", root, "--skip-old-files", "--anchored", "--exclude", "./dev/*",
    ];

    [Fact]
    public async Task TarListsEveryMemberUnderDotSlashWithNumericOwners()
    {
        using var dir = new TempDir();
        var fs = new SampleRootFs();
        var tar = dir["ct.tar"];
        var summary = await ContainerTarWriter.WriteFileAsync(fs.Reader(), tar, CancellationToken.None);

        Assert.Equal(1, summary.SkippedSockets);
        Assert.Equal(fs.Entries.Count - 1, summary.Members);
        Assert.Equal(new FileInfo(tar).Length, summary.Bytes);
        Assert.Equal(0, summary.Bytes % 512);

        var names = (await Tool.RunAsync("tar", "-tf", tar, "--quoting-style=literal")).AssertSuccess();
        Assert.Empty(names.Stderr);
        var expected = fs.Entries.Where(e => e.Kind != ContainerEntryKind.Socket).Select(ArchiveName).ToList();
        Assert.Equal(expected, names.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // What PVE looks at: an sbin entry, at least 10 members, no multi-volume members.
        var listing = (await Tool.RunAsync("tar", "-tvf", tar, "--quoting-style=literal")).AssertSuccess();
        Assert.Empty(listing.Stderr);
        var lines = listing.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(ParseListing).ToDictionary(l => l.Name);
        Assert.True(lines.Count >= 10, listing.ToString());
        Assert.Contains("./sbin/", lines.Keys);
        Assert.DoesNotContain(lines.Values, l => l.Mode.StartsWith('M'));
        Assert.Equal(("drwxr-xr-x", "100000/100000"), (lines["./"].Mode, lines["./"].Owner));

        Assert.Equal(("-rwsr-xr-x", "0/0", "1000"), Columns(lines["./usr/bin/passwd"]));
        Assert.Equal(("hrwsr-xr-x", "0/0", "0"), Columns(lines["./usr/bin/passwd-again link to ./usr/bin/passwd"]));
        Assert.Equal(("-rw-r--r--", "3000000/3000001", "3"), Columns(lines["./usr/bin/big-ids"]));
        Assert.Equal(("drwxrwxrwt", "100000/100000", "0"), Columns(lines["./tmp/"]));
        Assert.Equal(("lrwxrwxrwx", "100000/100000", "0"), Columns(lines["./usr/lib/long-link -> " + SampleRootFs.LongTarget]));
        Assert.Equal(("crw-rw-rw-", "100000/100000", "4,0"), Columns(lines["./var/devnodes/tty0"]));
        Assert.Equal(("brw-rw-rw-", "100000/100000", "7,0"), Columns(lines["./var/devnodes/loop0"]));
        Assert.Equal(("prw-------", "100000/100000", "0"), Columns(lines["./run/initctl"]));
        Assert.Equal(("-rw-------", "100000/100000", SampleRootFs.SparseSize.ToString(CultureInfo.InvariantCulture)), Columns(lines["./var/lib/sparse.img"]));
        Assert.Equal(("-rw-------", "100000/100000", SampleRootFs.AllHoleSize.ToString(CultureInfo.InvariantCulture)), Columns(lines["./var/lib/all-hole.img"]));
        Assert.Equal("1969-12-31 23:59", lines["./etc/ancient"].Date);
    }

    [Fact]
    public async Task PveExtractionRestoresOwnersModesTimesXattrsAclsHolesAndContent()
    {
        using var dir = new TempDir();
        var fs = new SampleRootFs();
        var tar = dir["ct.tar"];
        var root = dir["root"];
        Directory.CreateDirectory(root);
        await ContainerTarWriter.WriteFileAsync(fs.Reader(), tar, CancellationToken.None);

        var extract = (await Tool.RunAsync("tar", PveExtract(root), TarTimeout, stdinFile: tar)).AssertSuccess();
        // Nothing but the totals and GNU tar's own warning for a time before the epoch (it restores it all the same).
        Assert.Matches(@"\A/usr/bin/tar: \./etc/ancient: implausibly old time stamp [^\n]*\nTotal bytes read: \d+ \([^)]*\)\n\z", extract.Stderr);

        // ./dev itself is restored, its contents are excluded.
        Assert.True(Directory.Exists(Path.Combine(root, "dev")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(root, "dev")));

        var restored = fs.Entries.Where(e => e.Kind != ContainerEntryKind.Socket && !e.Path.StartsWith("dev/", StringComparison.Ordinal)).ToList();
        var stats = await StatAsync(root, restored.Select(e => e.Path));
        foreach (var entry in restored)
        {
            if (entry.Path == ".")
            {
                // PVE creates the root beforehand (owned by the container's root); --skip-old-files leaves it alone.
                continue;
            }

            var stat = stats[entry.Path];
            var expectedEntry = entry.Kind == ContainerEntryKind.HardLink ? fs[entry.LinkTarget!] : entry;
            Assert.True(ExpectedType(expectedEntry) == stat.Type, $"{entry.Path}: type {stat.Type}");
            Assert.True(Convert.ToString(expectedEntry.Mode, 8) == stat.Mode, $"{entry.Path}: mode {stat.Mode}");
            Assert.True((expectedEntry.Uid, expectedEntry.Gid) == (stat.Uid, stat.Gid), $"{entry.Path}: owner {stat.Uid}:{stat.Gid}");
            Assert.True(FormatTime(expectedEntry.ModificationTimeNs) == stat.ModificationTime, $"{entry.Path}: mtime {stat.ModificationTime}");

            switch (entry.Kind)
            {
                case ContainerEntryKind.RegularFile:
                    Assert.Equal(entry.Size, stat.Size);
                    Assert.True(fs.Content[entry.Path].AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(root, entry.Path))), $"{entry.Path}: content differs");
                    break;
                case ContainerEntryKind.Symlink:
                    Assert.Equal(entry.LinkTarget, new FileInfo(Path.Combine(root, entry.Path)).LinkTarget);
                    break;
                case ContainerEntryKind.HardLink:
                    Assert.Equal(stats[entry.LinkTarget!].Inode, stat.Inode);
                    Assert.Equal(2, stat.Links);
                    break;
                case ContainerEntryKind.CharacterDevice or ContainerEntryKind.BlockDevice:
                    Assert.Equal((entry.DeviceMajor, entry.DeviceMinor), (stat.Major, stat.Minor));
                    break;
            }
        }

        // Holes: the sparse files occupy less than their size, the all-hole one nothing.
        Assert.True(stats["var/lib/sparse.img"].AllocatedBytes < 1 << 20, $"sparse.img allocates {stats["var/lib/sparse.img"].AllocatedBytes}");
        Assert.True(stats["var/lib/odd.img"].AllocatedBytes < SampleRootFs.OddSparseSize, $"odd.img allocates {stats["var/lib/odd.img"].AllocatedBytes}");
        Assert.Equal(0, stats["var/lib/all-hole.img"].AllocatedBytes);
        Assert.True(stats["usr/lib/dense.bin"].AllocatedBytes >= SampleRootFs.DenseSize);

        // xattrs byte for byte, user.* and the capability (restored after the chown that would clear it).
        var xattrs = await GetXattrsAsync(Path.Combine(root, "etc/xattrs"));
        var expectedUser = fs["etc/xattrs"].Xattrs.ToDictionary(x => x.Name, x => Convert.ToHexStringLower(x.Value.Span));
        Assert.Equal(expectedUser.OrderBy(p => p.Key), xattrs.Where(p => p.Key.StartsWith("user.", StringComparison.Ordinal)).OrderBy(p => p.Key));
        var ping = await GetXattrsAsync(Path.Combine(root, "usr/bin/ping"));
        Assert.Equal(Convert.ToHexStringLower(SampleRootFs.NetRawCapability), ping["security.capability"]);
        Assert.Equal(Convert.ToHexStringLower("pinger"u8), ping["user.note"]);

        // ACLs: back in the kernel exactly as archived, and as getfacl shows them.
        Assert.Equal(Convert.ToHexStringLower(SampleRootFs.FileAcl), (await GetXattrsAsync(Path.Combine(root, "etc/acl-file")))["system.posix_acl_access"]);
        Assert.Equal(Convert.ToHexStringLower(SampleRootFs.DirectoryDefaultAcl), (await GetXattrsAsync(Path.Combine(root, "home")))["system.posix_acl_default"]);
        var fileAcl = (await Tool.RunAsync("getfacl", "-n", "-E", "-c", "-p", Path.Combine(root, "etc/acl-file"))).AssertSuccess();
        Assert.Equal("user::rw-\nuser:1000:r-x\ngroup::r--\nmask::r-x\nother::r--\n\n", fileAcl.Stdout);
        var defaultAcl = (await Tool.RunAsync("getfacl", "-n", "-E", "-c", "-p", "-d", Path.Combine(root, "home"))).AssertSuccess();
        Assert.Equal("user::rwx\nuser:1000:rwx\ngroup::r-x\ngroup:2000:r-x\nmask::rwx\nother::r-x\n\n", defaultAcl.Stdout);
        Assert.False((await GetXattrsAsync(Path.Combine(root, "etc/hostname"))).ContainsKey("system.posix_acl_access"));
    }

    [Theory]
    [InlineData("usr/lib/dense.bin", 1 << 20)]
    [InlineData("var/lib/sparse.img", (1 << 20) + 10)]
    [InlineData("etc/hostname", 0)]
    public async Task ContentShorterThanItsEntryFailsNamingThePathAndLeavesNoFile(string path, long delivered)
    {
        using var dir = new TempDir();
        var fs = new SampleRootFs();
        var reader = new InMemoryArchiveReader(fs.Entries, fs.Content) { DeliverOnly = (path, delivered) };

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => ContainerTarWriter.WriteFileAsync(reader, dir["ct.tar"], CancellationToken.None));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains(delivered.ToString(CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public async Task StreamsToAPipeLikeDestinationAndReadsNoHoles()
    {
        using var dir = new TempDir();
        var fs = new SampleRootFs();
        await ContainerTarWriter.WriteFileAsync(fs.Reader(), dir["ct.tar"], CancellationToken.None);

        var reader = fs.Reader();
        using var memory = new MemoryStream();
        await using (var pipe = new ForwardOnlyStream(memory))
        {
            await ContainerTarWriter.WriteAsync(reader, pipe, CancellationToken.None);
        }

        Assert.True(File.ReadAllBytes(dir["ct.tar"]).AsSpan().SequenceEqual(memory.ToArray()), "the stream and the file differ");

        // Only data regions are read (widened to 512-byte blocks): never the holes.
        Assert.Equal(65536 + 1024, reader.BytesRead["var/lib/sparse.img"]);
        Assert.Equal(1024 + 4096, reader.BytesRead["var/lib/odd.img"]);
        Assert.False(reader.BytesRead.ContainsKey("var/lib/all-hole.img"));
        Assert.Equal(SampleRootFs.DenseSize, reader.BytesRead["usr/lib/dense.bin"]);
    }

    [Fact]
    public async Task SizeBeyondTheUstarFieldTravelsInAPaxRecord()
    {
        // 8 GiB is one past the 11-digit octal size field. Only the first 64 KiB of the stream are kept: enough
        // for GNU tar to list the member from its headers before it runs out of data.
        using var dir = new TempDir();
        const long size = 1L << 33;
        var entry = new ContainerEntry { Path = "huge.bin", Kind = ContainerEntryKind.RegularFile, Mode = 0x1A4, Uid = 100000, Gid = 100000, Size = size };
        var reader = new InMemoryArchiveReader([entry], new Dictionary<string, byte[]>()) { Zeros = true };
        await using (var file = new ForwardOnlyStream(File.Create(dir["huge.tar"]), 64 << 10))
        {
            await Assert.ThrowsAsync<IOException>(() => ContainerTarWriter.WriteAsync(reader, file, CancellationToken.None));
        }

        var listing = (await Tool.RunAsync("tar", "-tvf", dir["huge.tar"])).AssertExitCode(2);
        Assert.Equal(("-rw-r--r--", "100000/100000", "8589934592"), Columns(ParseListing(listing.Stdout.TrimEnd('\n'))));
        Assert.Contains("Unexpected EOF in archive", listing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancellationLeavesNoFile()
    {
        using var dir = new TempDir();
        var fs = new SampleRootFs();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ContainerTarWriter.WriteFileAsync(fs.Reader(), dir["ct.tar"], cts.Token));
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public async Task MalformedAclFailsNamingThePath()
    {
        var entry = new ContainerEntry
        {
            Path = "etc/broken", Kind = ContainerEntryKind.Directory, Mode = 0x1ED,
            Xattrs = [new ContainerXattr("system.posix_acl_access", new byte[] { 1, 0, 0, 0, 1, 0, 6, 0, 0xFF, 0xFF, 0xFF, 0xFF })],
        };
        var reader = new InMemoryArchiveReader([entry], new Dictionary<string, byte[]>());

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => ContainerTarWriter.WriteAsync(reader, Stream.Null, CancellationToken.None));
        Assert.Contains("etc/broken", error.Message, StringComparison.Ordinal);
    }

    private static string ArchiveName(ContainerEntry entry) =>
        entry.Path == "." ? "./" : "./" + entry.Path + (entry.Kind == ContainerEntryKind.Directory ? "/" : "");

    private static string ExpectedType(ContainerEntry entry) => entry.Kind switch
    {
        ContainerEntryKind.Directory => "directory",
        ContainerEntryKind.RegularFile => entry.Size == 0 ? "regular empty file" : "regular file",
        ContainerEntryKind.Symlink => "symbolic link",
        ContainerEntryKind.CharacterDevice => "character special file",
        ContainerEntryKind.BlockDevice => "block special file",
        ContainerEntryKind.Fifo => "fifo",
        _ => entry.Kind.ToString(),
    };

    /// <summary>stat's <c>%.9Y</c>: seconds and nine fraction digits, negative times as a negative decimal.</summary>
    private static string FormatTime(long ns)
    {
        var sign = ns < 0 ? "-" : "";
        var magnitude = Math.Abs(ns);
        return FormattableString.Invariant($"{sign}{magnitude / 1_000_000_000}.{magnitude % 1_000_000_000:D9}");
    }

    private sealed record Stat(string Type, string Mode, long Uid, long Gid, long Size, int Major, int Minor, string ModificationTime, long AllocatedBytes, long Inode, int Links);

    private static async Task<Dictionary<string, Stat>> StatAsync(string root, IEnumerable<string> paths)
    {
        var relative = paths.ToList();
        var args = new List<string> { "-c", "%F|%a|%u|%g|%s|%t|%T|%.9Y|%b|%B|%i|%h" };
        args.AddRange(relative.Select(p => Path.Combine(root, p)));
        var result = (await Tool.RunAsync("stat", args, Tool.DefaultTimeout)).AssertSuccess();
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(relative.Count, lines.Length);
        var stats = new Dictionary<string, Stat>();
        for (var i = 0; i < lines.Length; i++)
        {
            var f = lines[i].Split('|');
            stats[relative[i]] = new Stat(f[0], f[1], long.Parse(f[2], CultureInfo.InvariantCulture), long.Parse(f[3], CultureInfo.InvariantCulture),
                long.Parse(f[4], CultureInfo.InvariantCulture), Convert.ToInt32(f[5], 16), Convert.ToInt32(f[6], 16), f[7],
                long.Parse(f[8], CultureInfo.InvariantCulture) * long.Parse(f[9], CultureInfo.InvariantCulture),
                long.Parse(f[10], CultureInfo.InvariantCulture), int.Parse(f[11], CultureInfo.InvariantCulture));
        }

        return stats;
    }

    /// <summary>Every xattr of a file (not following symlinks) as name → lowercase hex, via getfattr.</summary>
    private static async Task<Dictionary<string, string>> GetXattrsAsync(string path)
    {
        var result = (await Tool.RunAsync("getfattr", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", path)).AssertSuccess();
        var xattrs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('#'))
            {
                continue;
            }

            // getfattr escapes '=' in names as \075 (and '\' as \134); the value follows the last '='.
            var equals = line.LastIndexOf('=');
            var name = Regex.Unescape(line[..equals].Replace("\\075", "=", StringComparison.Ordinal).Replace("\\045", "%", StringComparison.Ordinal));
            var value = line[(equals + 1)..];
            xattrs[name] = value == "" ? "" : value.StartsWith("0x", StringComparison.Ordinal) ? value[2..].ToLowerInvariant() : throw new InvalidDataException(line);
        }

        return xattrs;
    }

    private sealed record ListingLine(string Mode, string Owner, string Size, string Date, string Name);

    private static (string, string, string) Columns(ListingLine line) => (line.Mode, line.Owner, line.Size);

    private static ListingLine ParseListing(string line)
    {
        var match = ListingPattern().Match(line);
        Assert.True(match.Success, $"unexpected tar -tv line: {line}");
        return new ListingLine(match.Groups["mode"].Value, match.Groups["owner"].Value, match.Groups["size"].Value, match.Groups["date"].Value, match.Groups["name"].Value);
    }

    [GeneratedRegex(@"^(?<mode>\S{10}) (?<owner>\S+) +(?<size>\S+) (?<date>-?\d{4}-\d\d-\d\d \d\d:\d\d) (?<name>.*)$")]
    private static partial Regex ListingPattern();

    /// <summary>
    /// A destination that can only be written forward, like a pipe (any seek or position query fails); it keeps the
    /// first <paramref name="limit"/> bytes, then fails like a full disk.
    /// </summary>
    private sealed class ForwardOnlyStream(Stream inner, long limit = long.MaxValue) : Stream
    {
        private long _written;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var kept = (int)Math.Min(buffer.Length, limit - _written);
            await inner.WriteAsync(buffer[..kept], cancellationToken);
            _written += kept;
            if (kept < buffer.Length)
            {
                throw new IOException("no space left (test cap)");
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
