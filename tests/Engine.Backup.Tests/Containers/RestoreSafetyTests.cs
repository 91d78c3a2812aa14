using System.Runtime.CompilerServices;
using Engine.Backup.Containers;
using Engine.Backup.Containers.Restore;

namespace Engine.Backup.Tests.Containers;

/// <summary>Archives crafted to write outside the target are refused before anything lands there.</summary>
public sealed class RestoreSafetyTests : IDisposable
{
    private readonly TempDir _dir = new();

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/../../escape")]
    [InlineData("/etc/escape")]
    [InlineData("a//b")]
    [InlineData("./a")]
    [InlineData("")]
    public async Task Paths_leaving_the_target_are_refused(string path)
    {
        var archive = new ListArchive(Directory("."), Directory("a"), File(path, "evil"));
        var error = await Assert.ThrowsAsync<UnsafeArchivePathException>(() => RestoreAsync(archive));
        Assert.Equal(path, error.EntryPath);
        Assert.False(System.IO.File.Exists(_dir["escape"]));
        Assert.False(System.IO.File.Exists("/etc/escape"));
    }

    [Fact]
    public async Task A_symlinked_parent_is_refused()
    {
        var outside = _dir["outside"];
        System.IO.Directory.CreateDirectory(outside);
        var archive = new ListArchive(Directory("."), Symlink("link", outside), File("link/escape", "evil"));
        var error = await Assert.ThrowsAsync<UnsafeArchivePathException>(() => RestoreAsync(archive));
        Assert.Contains("symlink", error.Message, StringComparison.Ordinal);
        Assert.Empty(System.IO.Directory.EnumerateFileSystemEntries(outside));
    }

    [Fact]
    public async Task A_hard_link_must_name_an_earlier_file_of_the_archive()
    {
        var archive = new ListArchive(Directory("."), new ContainerEntry { Path = "passwd", Kind = ContainerEntryKind.HardLink, LinkTarget = "../../etc/passwd" });
        await Assert.ThrowsAsync<UnsafeArchivePathException>(() => RestoreAsync(archive));
        var later = new ListArchive(Directory("."), new ContainerEntry { Path = "b", Kind = ContainerEntryKind.HardLink, LinkTarget = "a" }, File("a", "x"));
        await Assert.ThrowsAsync<UnsafeArchivePathException>(() => RestoreAsync(later));
    }

    [Fact]
    public async Task A_file_before_its_directory_is_refused()
    {
        var archive = new ListArchive(Directory("."), File("missing/file", "x"));
        var error = await Assert.ThrowsAsync<UnsafeArchivePathException>(() => RestoreAsync(archive));
        Assert.Contains("not in the archive before it", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();

    private Task<ContainerRestoreSummary> RestoreAsync(IContainerArchiveReader archive) =>
        ContainerDirectoryRestorer.RestoreAsync(archive, _dir["target"], CancellationToken.None);

    private static ContainerEntry Directory(string path) => new() { Path = path, Kind = ContainerEntryKind.Directory, Mode = 0b111_101_101 };

    private static ContainerEntry Symlink(string path, string target) => new() { Path = path, Kind = ContainerEntryKind.Symlink, LinkTarget = target };

    private static ContainerEntry File(string path, string content) =>
        new() { Path = path, Kind = ContainerEntryKind.RegularFile, Mode = 0b110_100_100, Size = content.Length };

    /// <summary>An archive given as a list; every file reads as 'x' bytes.</summary>
    private sealed class ListArchive(params ContainerEntry[] entries) : IContainerArchiveReader
    {
        public async IAsyncEnumerable<ContainerEntry> EntriesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            foreach (var entry in entries)
            {
                await Task.Yield();
                yield return entry;
            }
        }

        public ValueTask<int> ReadFileAsync(ContainerEntry entry, long offset, Memory<byte> destination, CancellationToken cancellationToken)
        {
            var count = (int)Math.Min(destination.Length, entry.Size - offset);
            destination.Span[..count].Fill((byte)'x');
            return ValueTask.FromResult(count);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
