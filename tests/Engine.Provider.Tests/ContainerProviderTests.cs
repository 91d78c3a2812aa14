using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Provider.Api;
using Engine.Provider.Repository;
using Engine.Provider.Tests.Infrastructure;

namespace Engine.Provider.Tests;

/// <summary>
/// Containers through the provider in vzdump's and pve-container's order: a generated root filesystem with vzdump's
/// default exclusions, restored by GNU tar with PVE's exact flags from the tar file or the directory the provider
/// hands over, and compared with diff, stat, getfattr and getfacl. The unprivileged case runs backup_container in a
/// fresh process inside a user and mount namespace that maps the container's root to 100000, as PVE's fork does.
/// </summary>
public sealed class ContainerProviderTests
{
    private const string Config = "arch: amd64\nhostname: ct200\nrootfs: local:200/vm-200-disk-0.raw,size=8G\nunprivileged: 1\n";
    private const string DirectoryTime = "2022-07-08 09:10:11.555555555";

    private static readonly string[] UserNamespace =
    [
        "unshare", "--user", "--mount", "--map-users=100000,0,65536", "--map-groups=100000,0,65536", "--setuid", "0", "--setgid", "0", "--",
    ];

    [Theory]
    [InlineData(BackupMechanisms.Tar)]
    [InlineData(BackupMechanisms.Directory)]
    public async Task PrivilegedContainer_RestoresExactly_ThroughTheMechanism(string mechanism)
    {
        using var dir = new TempDir();
        var root = dir["rootfs"];
        await ContainerTree.BuildAsync(root);
        await ShellAsync(root, $"mkdir sbin && printf 'init\\n' > sbin/init && chmod 0755 sbin/init && find . -type d -exec touch -h -d '{DirectoryTime}' {{}} +");
        await using var provider = new InProcessChannel(dir["repo"], new EngineRepositoryProviderOptions { ContainerRestoreMechanism = mechanism, RuntimeDirectory = dir.Path });

        var (archive, size) = await PveContainerReplay.BackupAsync(provider, null, dir, "200", 1764190000, root, 0, PveContainerReplay.DefaultExcludes, Config);
        Assert.StartsWith("ct/200/", archive, StringComparison.Ordinal);
        Assert.True(size > ContainerTree.BigFileLength, $"archive-size {size}");

        // What PVE must not get back: vzdump's exclusions, and ./dev/* (its extraction excludes them).
        await ShellAsync(root, $"rm -r tmp/junk tmp/.X11-unix var/tmp/t1 var/run/sshd.pid var/run/sub/deep.pid dev/null dev/loop7 && find . -type d -exec touch -h -d '{DirectoryTime}' {{}} +");
        var target = dir["restored"];
        Assert.Equal(mechanism, await PveContainerReplay.RestoreAsync(provider, "backup/" + archive, target, root, Config));
        await ContainerTree.AssertSameAsync(root, target, ContainerTree.PveTarXattrs);
    }

    [Fact]
    public async Task UnprivilegedContainer_IsBackedUpAsItsMappedRoot_StagedAndImported()
    {
        Tool.Require("newuidmap");
        foreach (var map in (string[])["/etc/subuid", "/etc/subgid"])
        {
            Assert.True(File.Exists(map) && File.ReadAllLines(map).Contains("root:100000:65536"),
                $"{map} must give root the range 100000:65536, as on a PVE host (.ci/setup adds it)");
        }

        using var dir = new TempDir();
        var root = dir["rootfs"];
        await BuildMappedTreeAsync(root);
        string[] launcher = [Tool.Require("unshare"), .. UserNamespace[1..]];
        await using var provider = ProcessChannel.Start(dir["repo"]);
        IProviderChannel Fork() => ProcessChannel.StartUnder(launcher, dir["repo"]);

        var (first, size) = await PveContainerReplay.BackupAsync(provider, Fork, dir, "201", 1764191000, root, 100000, PveContainerReplay.DefaultExcludes, Config);
        Assert.True(size >= 3 << 20, $"archive-size {size}");
        Assert.Contains(provider.Logs, l => l.Message.Contains("imported from the staging repository", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(dir["repo"], "staging")));

        // The next backup changes one small file: the staging repository dedups against the main store read-only.
        await ShellAsync(root, $"printf 'changed\\n' > etc/f7 && chown -h 100000:100000 etc/f7 && find . -type d -exec touch -h -d '{DirectoryTime}' {{}} +");
        var (second, _) = await PveContainerReplay.BackupAsync(provider, Fork, dir, "201", 1764191100, root, 100000, PveContainerReplay.DefaultExcludes, Config);
        Assert.NotEqual(first, second);
        using (var repository = BackupRepository.Open(dir["repo"], create: false))
        {
            var manifest = repository.ReadManifest(SnapshotId.Parse(second));
            Assert.True(manifest.Stats.BytesStored < 256 << 10, $"second backup stored {manifest.Stats.BytesStored} bytes");
            Assert.Equal(2, repository.ListSnapshots("ct", "201").Count);
            Assert.True((await repository.VerifyAsync(null, null, CancellationToken.None)).IsClean, "verify after two staged imports");
        }

        // Restored by root with --numeric-owner, the owners are the container's own view (0 and 1000), not 100000+.
        await ShellAsync(root, $"rm tmp/junk && find . -type d -exec touch -h -d '{DirectoryTime}' {{}} +");
        var inside = await ContainerTree.StatListingAsync(root, launcher);
        var rootLike = dir["root-as-seen-inside"];
        Directory.CreateDirectory(rootLike);
        await ShellAsync(rootLike, $"chmod --reference='{root}' . && touch -r '{root}' .");
        var target = dir["restored"];
        await PveContainerReplay.RestoreAsync(provider, "backup/" + second, target, rootLike, Config);
        Assert.Equal(inside, await ContainerTree.StatListingAsync(target));
        await ContainerTree.AssertNoDiffAsync(root, target);
        Assert.Contains("user.note=\"mapped\"", await ContainerTree.XattrDumpAsync(target), StringComparison.Ordinal);
    }

    /// <summary>An unprivileged container's files as the host stores them: owners shifted by 100000.</summary>
    private static Task BuildMappedTreeAsync(string root)
    {
        Directory.CreateDirectory(root);
        return ShellAsync(root, $"""
            set -eu
            mkdir -p sbin etc home/alice usr/bin var/lib tmp dev
            printf 'init\n' > sbin/init && chmod 0755 sbin/init
            printf 'root:x:0:0:root:/root:/bin/bash\n' > etc/passwd
            for i in $(seq 1 40); do printf "file $i\n" > etc/f$i; done
            printf 'su\n' > usr/bin/su && chmod 4755 usr/bin/su && ln usr/bin/su usr/bin/su-hard && ln -s ../usr/bin/su sbin/su-link
            printf 'alice\n' > home/alice/a.txt && setfattr -n user.note -v mapped home/alice/a.txt
            dd if=/dev/urandom of=var/lib/big.bin bs=1M count=3 status=none
            printf 'x' > tmp/junk
            chown -hR 100000:100000 .
            chown -h 101000:101000 home/alice home/alice/a.txt && chmod 0700 home/alice
            find . -type d -exec touch -h -d '{DirectoryTime}' {"{}"} +
            """);
    }

    private static async Task ShellAsync(string directory, string script) =>
        (await Tool.RunAsync("sh", "-c", $"cd '{directory}' && {script}")).AssertSuccess();
}
