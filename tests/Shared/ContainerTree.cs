using System.Text;

namespace Engine.Tests.Shared;

/// <summary>
/// A generated container root filesystem made with the real tools (chown, mknod, mkfifo, setfattr, setcap, setfacl,
/// truncate, touch), and the comparisons of two trees with real tools (diff, stat, getfattr, getfacl, du).
/// </summary>
internal static class ContainerTree
{
    public const string BigFile = "var/lib/big.bin";
    public const string SparseFile = "var/lib/sparse.img";
    public const int BigFileLength = 5 << 20;

    /// <summary>Fails naming the Debian package when a tool the tree needs is missing.</summary>
    public static string RequireSetcap()
    {
        const string setcap = "/usr/sbin/setcap";
        Assert.True(File.Exists(setcap), $"{setcap} is missing: install the Debian package libcap2-bin (apt-get install libcap2-bin)");
        return setcap;
    }

    /// <summary>Builds the tree in <paramref name="root"/> (created).</summary>
    public static async Task BuildAsync(string root)
    {
        foreach (var tool in (string[])["setfattr", "setfacl", "chown", "mknod", "mkfifo", "truncate", "touch", "dd", "ln"])
        {
            Tool.Require(tool);
        }

        var setcap = RequireSetcap();
        Directory.CreateDirectory(root);
        Directory.CreateDirectory(Path.Combine(root, "var/lib"));
        await File.WriteAllBytesAsync(Path.Combine(root, BigFile), Random(BigFileLength, seed: 42));
        var script = $$"""
            set -eu
            cd '{{root}}'
            mkdir -p etc usr/bin usr/lib tmp/.X11-unix var/tmp var/run/sub var/log/nested var/cache/apt home/alice home/bob srv/shared dev run mnt 'données' bin
            printf 'root:x:0:0:root:/root:/bin/bash\n' > etc/passwd
            printf 'root:*:19000:0:99999:7:::\n' > etc/shadow && chown 0:42 etc/shadow && chmod 0640 etc/shadow
            : > etc/empty
            printf 'setuid\n' > usr/bin/su && chmod 4755 usr/bin/su
            printf 'setgid\n' > usr/bin/wall && chown 0:5 usr/bin/wall && chmod 2755 usr/bin/wall
            printf 'ping\n' > bin/ping && chmod 0755 bin/ping && {{setcap}} cap_net_raw+ep bin/ping
            chmod 1777 tmp && printf 'x' > tmp/junk && printf 'y' > tmp/.X11-unix/X0
            printf 'pid' > var/run/sshd.pid && printf 'keep' > var/run/keep.txt && printf 'pid' > var/run/sub/deep.pid
            printf 'log' > var/log/syslog.log && printf 'log' > var/log/nested/app.log && printf 'not a log' > var/log/dmesg
            printf 'deb' > var/cache/apt/pkgcache.bin && printf 'file named cache' > var/lib/cache
            printf 'tmp' > var/tmp/t1
            chown 1000:1000 home/alice && chmod 0700 home/alice
            printf 'hello alice\n' > home/alice/notes.txt && chown 1000:1000 home/alice/notes.txt
            setfattr -n user.comment -v 'written by alice' home/alice/notes.txt
            setfattr -n user.binary -v 0x00ff10 home/alice/notes.txt
            chown 1001:1002 home/bob && chmod 0750 home/bob
            setfacl -m u:1000:rwx,g:1002:rx srv/shared && setfacl -d -m u:1000:rwx,o::- srv/shared
            printf 'shared\n' > srv/shared/doc.txt && setfacl -m u:1001:r srv/shared/doc.txt
            ln -s usr/lib lib64 && setfattr -h -n trusted.link -v on-the-symlink lib64
            setfattr -n trusted.overlay.opaque -v y usr/lib
            ln -s /nonexistent/target dangling
            ln -s ../alice/notes.txt home/bob/alice-notes && chown -h 1001:1002 home/bob/alice-notes
            printf 'hard\n' > usr/bin/hard-a && ln usr/bin/hard-a usr/bin/hard-b && ln usr/bin/hard-a usr/lib/hard-c
            mknod dev/null c 1 3 && chmod 0666 dev/null
            mknod dev/loop7 b 7 7 && chown 0:6 dev/loop7 && chmod 0660 dev/loop7
            mkfifo run/initctl && chmod 0600 run/initctl
            truncate -s 8M var/lib/sparse.img
            dd if=/dev/urandom of=var/lib/sparse.img bs=64K count=1 conv=notrunc status=none
            dd if=/dev/urandom of=var/lib/sparse.img bs=64K count=2 seek=48 conv=notrunc status=none
            printf 'bonjour\n' > 'données/été.txt' && printf 'party\n' > 'données/emoji 🎉.txt' && printf 'nihongo\n' > 'données/日本語'
            touch -h -d '2021-02-03 04:05:06.123456789' dangling lib64 home/bob/alice-notes
            touch -d '2020-01-01 00:00:00.000000001' etc/passwd etc/empty usr/bin/hard-a
            touch -d '2019-06-30 23:59:59.999999999' var/lib/sparse.img 'données/été.txt'
            find . -type d -exec touch -d '2022-07-08 09:10:11.555555555' {} +
            """;
        (await Tool.RunAsync("sh", "-c", script)).AssertSuccess();
    }

    /// <summary>The xattrs PVE's tar flags carry (<c>--xattrs-include=user.*</c>, <c>security.capability</c>, ACLs by <c>--acls</c>).</summary>
    public const string PveTarXattrs = "^(user\\.|security\\.capability|system\\.posix_acl_)";

    /// <summary>
    /// Asserts two trees are the same in content, types, owners, modes, times, links, xattrs and ACLs; with
    /// <paramref name="xattrPattern"/> only the xattrs whose names match it (a <c>getfattr -m</c> pattern) are compared.
    /// </summary>
    public static async Task AssertSameAsync(string expected, string actual, string xattrPattern = "-")
    {
        await AssertNoDiffAsync(expected, actual);
        Assert.Equal(await StatListingAsync(expected), await StatListingAsync(actual));
        var xattrs = await XattrDumpAsync(expected, xattrPattern);
        Assert.Contains("security.capability=", xattrs, StringComparison.Ordinal);
        Assert.Contains("user.comment=\"written by alice\"", xattrs, StringComparison.Ordinal);
        Assert.Contains("system.posix_acl_default=", xattrs, StringComparison.Ordinal);
        if (xattrPattern == "-")
        {
            Assert.Contains("trusted.overlay.opaque=\"y\"", xattrs, StringComparison.Ordinal);
            Assert.Contains("trusted.link=\"on-the-symlink\"", xattrs, StringComparison.Ordinal);
        }

        Assert.Equal(xattrs, await XattrDumpAsync(actual, xattrPattern));
        var acls = await AclDumpAsync(expected);
        Assert.Contains("default:user:1000:rwx", acls, StringComparison.Ordinal);
        Assert.Contains("user:1001:r--", acls, StringComparison.Ordinal);
        Assert.Equal(acls, await AclDumpAsync(actual));
    }

    /// <summary>
    /// <c>diff -r --no-dereference</c>: only the notes diff prints for any two FIFOs or device nodes ("File A is a fifo
    /// while file B is a fifo") are allowed; their types and numbers are compared by <see cref="StatListingAsync"/>.
    /// </summary>
    public static async Task AssertNoDiffAsync(string expected, string actual)
    {
        var diff = await Tool.RunAsync("diff", "-r", "--no-dereference", expected, actual);
        var unexpected = diff.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(line => !IsSpecialFileNote(line)).ToArray();
        Assert.True(unexpected.Length == 0 && diff.ExitCode <= 1 && diff.Stderr.Length == 0, $"trees differ:\n{diff}");
    }

    private static bool IsSpecialFileNote(string line)
    {
        foreach (var kind in (string[])["fifo", "character special file", "block special file"])
        {
            if (line.StartsWith("File ", StringComparison.Ordinal) && line.EndsWith(" is a " + kind, StringComparison.Ordinal) &&
                line.Contains(" is a " + kind + " while file ", StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// <c>stat -c '%n %f %u %g %.9Y %h %t %T'</c> of every entry (type and mode in hex, owners, mtime with ns, links,
    /// device numbers) plus <c>%s</c> for non-directories (directory sizes depend on the filesystem's history), sorted.
    /// </summary>
    /// <remarks>
    /// With a <paramref name="launcher"/> (<c>unshare … --</c>) the listing is taken through it, so owners are those a
    /// user namespace's mapping shows.
    /// </remarks>
    public static async Task<string> StatListingAsync(string root, IReadOnlyList<string>? launcher = null)
    {
        var all = await InAsync(root, "find . -exec stat -c '%n %f %u %g %.9Y %h %t %T' {} + && find . ! -type d -exec stat -c '%n size %s' {} +", launcher);
        var lines = all.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Array.Sort(lines, StringComparer.Ordinal);
        Assert.True(lines.Length > 40, $"listing of {root} is too short:\n{all}");
        return string.Join('\n', lines);
    }

    /// <summary><c>getfattr -R -h -d -m -</c>, one block per file, sorted by file (readdir order differs between trees).</summary>
    public static async Task<string> XattrDumpAsync(string root, string pattern = "-") =>
        SortBlocks(await InAsync(root, $"getfattr -R -h -d -m '{pattern}' --absolute-names ."));

    /// <summary><c>getfacl -R -n -P</c>, one block per file, sorted by file.</summary>
    public static async Task<string> AclDumpAsync(string root) =>
        SortBlocks(await InAsync(root, "getfacl -R -n -P ."));

    /// <summary>Bytes the file occupies on disk (<c>du -B1</c>).</summary>
    public static async Task<long> DiskUsageAsync(string path)
    {
        var du = (await Tool.RunAsync("du", "-B1", path)).AssertSuccess();
        return long.Parse(du.Stdout.Split('\t')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<string> InAsync(string directory, string command, IReadOnlyList<string>? launcher = null)
    {
        Tool.Require("getfattr");
        Tool.Require("getfacl");
        string[] shell = ["-c", $"cd '{directory}' && {command}"];
        var result = launcher is null or { Count: 0 }
            ? await Tool.RunAsync("sh", shell)
            : await Tool.RunAsync(launcher[0], [.. launcher.Skip(1), Tool.Require("sh"), .. shell], Tool.DefaultTimeout);
        return result.AssertSuccess().Stdout;
    }

    private static string SortBlocks(string dump)
    {
        var blocks = dump.Replace("\r", "", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(block => block.Trim('\n'))
            .Where(block => block.Length > 0)
            .ToArray();
        Array.Sort(blocks, StringComparer.Ordinal);
        var builder = new StringBuilder();
        foreach (var block in blocks)
        {
            builder.Append(block).Append("\n\n");
        }

        return builder.ToString();
    }
}
