using Engine.Backup.Repository;

namespace Engine.Backup.Tests.Repository;

/// <summary>Repositories and restored disks are private to their owner whatever the umask.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RepositoryPermissionTests
{
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateFolder = PrivateFile | UnixFileMode.UserExecute;
    private const UnixFileMode SearchOnly = PrivateFolder | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    [Fact]
    public async Task The_repository_and_the_restored_file_are_private_whatever_the_umask()
    {
        using var repo = new TempRepository();
        var source = Path.Combine(repo.Root, "disk.raw");
        File.WriteAllBytes(source, TempRepository.Random(3 * TempRepository.SmallChunk, 3));
        var fresh = Path.Combine(repo.Root, "backups", "fresh-repo");
        var target = Path.Combine(repo.Root, "restored.raw");

        (await UnderUmask022("backup", "--repo", fresh, "--vmid", "100", "--disk", $"scsi0={source}")).AssertSuccess();
        var id = Assert.Single(new DirectoryInfo(Path.Combine(fresh, "snapshots/vm/100")).GetDirectories()).Name;
        (await UnderUmask022("restore", "--repo", fresh, "--snapshot", $"vm/100/{id}", "--disk", "scsi0", "--to", target)).AssertSuccess();

        Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(target));
        Assert.Equal(PrivateFile, File.GetUnixFileMode(target));
        // Others may only pass through the repository's and the chunk folders (to a container's staging directory, and
        // to test whether the store holds a chunk they can name); they can list or read nothing.
        Assert.Equal(SearchOnly, File.GetUnixFileMode(fresh));

        // The folder above it is the user's, made with the usual mode under their umask.
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(Path.GetDirectoryName(fresh)!));
        var chunks = Path.Combine(fresh, "chunks");
        var entries = Directory.GetFileSystemEntries(fresh, "*", SearchOption.AllDirectories);
        Assert.Contains(entries, e => e.EndsWith(".index", StringComparison.Ordinal));
        foreach (var entry in entries)
        {
            var expected = Path.GetFileName(entry) == RepositoryConfig.FileName ? PrivateFile | UnixFileMode.GroupRead | UnixFileMode.OtherRead // the format only
                : !Directory.Exists(entry) ? PrivateFile
                : entry == chunks || Path.GetDirectoryName(entry) == chunks ? SearchOnly : PrivateFolder;
            Assert.True(File.GetUnixFileMode(entry) == expected, $"{entry} is {File.GetUnixFileMode(entry)}");
        }
    }

    [Fact]
    public void Opening_a_repository_an_older_engine_left_readable_makes_it_private()
    {
        using var repo = new TempRepository();
        repo.Repository.Dispose();
        var prefix = Path.Combine(repo.Path, "chunks", "ab");
        foreach (var folder in (string[])[repo.Path, Path.Combine(repo.Path, "chunks"), prefix, Path.Combine(repo.Path, "snapshots")])
        {
            File.SetUnixFileMode(folder, PrivateFolder | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        repo.Reopen();

        Assert.Equal(SearchOnly, File.GetUnixFileMode(repo.Path));
        Assert.Equal(SearchOnly, File.GetUnixFileMode(Path.Combine(repo.Path, "chunks")));
        Assert.Equal(SearchOnly, File.GetUnixFileMode(prefix));
        Assert.Equal(PrivateFolder, File.GetUnixFileMode(Path.Combine(repo.Path, "snapshots")));
    }

    private static Task<ToolResult> UnderUmask022(params string[] args) =>
        Tool.RunAsync("sh", ["-c", "umask 022 && exec dotnet \"$@\"", "sh", EngineCli.Dll, .. args], EngineCli.Timeout);
}
