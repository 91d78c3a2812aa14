using Engine.Provider.Tests.Infrastructure;

namespace Engine.Samples.Tests;

/// <summary>
/// The sample's container backups in vzdump's order, <c>backup_container</c> in a fresh process as PVE's fork runs it,
/// restored by GNU tar with pve-container's flags from the tar the sample hands over, and compared with the source.
/// </summary>
[Collection(SampleCollection.Name)]
public sealed class ContainerBackupTests(SampleProviderFixture sample)
{
    private const string Config = "arch: amd64\nhostname: ct200\nrootfs: local:200/vm-200-disk-0.raw,size=8G\n";

    // Whole seconds: the sample's tar (.NET's TarWriter) keeps times to the second.
    private const string Time = "2022-07-08 09:10:11";

    [Fact]
    public async Task PrivilegedContainer_TarRoundTrip_RestoresTheTreeWithoutTheExcludedFiles()
    {
        using var dir = new TempDir();
        var root = dir["rootfs"];
        Directory.CreateDirectory(root);
        await ShellAsync(root, """
            set -eu
            mkdir -p sbin etc/ssh home/alice usr/bin var/log tmp/sub lost+found
            printf 'init\n' > sbin/init && chmod 0755 sbin/init
            for i in $(seq 1 40); do printf "file $i\n" > etc/f$i; done
            printf 'key\n' > etc/ssh/host_key && chmod 0600 etc/ssh/host_key
            printf 'su\n' > usr/bin/su && chmod 4755 usr/bin/su && ln -s ../usr/bin/su sbin/su-link
            printf 'alice\n' > home/alice/a.txt && chown -R 1000:1000 home/alice && chmod 0700 home/alice
            dd if=/dev/urandom of=var/log/big.bin bs=64k count=20 status=none
            printf 'x' > tmp/junk && printf 'y' > tmp/sub/deeper && printf 'z' > lost+found/orphan
            mkfifo var/log/fifo
            """);
        await TouchAllAsync(root);
        await using var provider = ProcessChannel.StartCommand(sample.Command, dir["repo"]);
        IProviderChannel Fork() => ProcessChannel.StartCommand(sample.Command, dir["repo"]);

        var (archive, size) = await PveContainerReplay.BackupAsync(provider, Fork, dir, "200", 1764190000, root, 0, PveContainerReplay.DefaultExcludes, Config);
        Assert.Equal("ct/200/2025-11-26T20:46:40Z", archive);
        Assert.True(size > 20 * 64 << 10, $"archive-size {size}");

        // What PVE must not get back: vzdump's exclusions (tmp/ itself stays) and lost+found.
        await ShellAsync(root, "rm -r tmp/junk tmp/sub lost+found");
        await TouchAllAsync(root);
        var target = dir["restored"];
        Assert.Equal("tar", await PveContainerReplay.RestoreAsync(provider, "backup/" + archive, target, root, Config));
        await ContainerTree.AssertNoDiffAsync(root, target);
        Assert.Equal(await ContainerTree.StatListingAsync(root), await ContainerTree.StatListingAsync(target));
    }

    private static Task TouchAllAsync(string root) => ShellAsync(root, $"find . -exec touch -h -d '{Time}' {{}} +");

    private static async Task ShellAsync(string directory, string script) =>
        (await Tool.RunAsync("sh", "-c", $"cd '{directory}' && {script}")).AssertSuccess();
}
