using Engine.Backup.Containers.Walking;

namespace Engine.Backup.Tests.Containers;

public sealed class ExcludePatternTests
{
    [Theory]
    // vzdump's defaults: anchored, everything inside but not the directory itself.
    [InlineData("/tmp/?*", "tmp", true, false)]
    [InlineData("/tmp/?*", "tmp/x", false, true)]
    [InlineData("/tmp/?*", "tmp/.X11-unix", true, true)]
    [InlineData("/tmp/?*", "var/tmp/x", false, false)]
    [InlineData("/var/tmp/?*", "var/tmp/a/b", false, true)]
    [InlineData("/var/run/?*.pid", "var/run/sshd.pid", false, true)]
    [InlineData("/var/run/?*.pid", "var/run/.pid", false, false)]
    [InlineData("/var/run/?*.pid", "var/run/sshd.pid.bak", false, false)]
    // Unanchored: any trailing components.
    [InlineData("*.log", "var/log/syslog.log", false, true)]
    [InlineData("*.log", "x.log", false, true)]
    [InlineData("*.log", "var/log/syslog", false, false)]
    [InlineData("cache", "var/cache", true, true)]
    [InlineData("cache", "var/cache.d", true, false)]
    [InlineData("lib/cache", "var/lib/cache", true, true)]
    [InlineData("lib/cache", "var/mylib/cache", true, false)]
    // Directories only.
    [InlineData("cache/", "var/cache", true, true)]
    [InlineData("cache/", "var/cache", false, false)]
    // Bracket expressions.
    [InlineData("core.[0-9]*", "root/core.1234", false, true)]
    [InlineData("core.[0-9]*", "root/core.x", false, false)]
    [InlineData("file[!a]", "fileb", false, true)]
    [InlineData("file[!a]", "filea", false, false)]
    [InlineData("file[^a]", "filea", false, false)]
    [InlineData("[]x]", "]", false, true)]
    [InlineData("a[", "a[", false, true)]
    [InlineData("a\\*", "a*", false, true)]
    [InlineData("a\\*", "ab", false, false)]
    // tar matches wildcards across slashes.
    [InlineData("/home/*/.cache", "home/alice/.cache", true, true)]
    [InlineData("/srv/*.tmp", "srv/a/b.tmp", false, true)]
    [InlineData("./etc/shadow", "etc/shadow", false, true)]
    [InlineData("./etc/shadow", "x/etc/shadow", false, false)]
    [InlineData("données/*.txt", "home/données/é.txt", false, true)]
    [InlineData("?.txt", "🎉.txt", false, true)]
    public void Matches_like_vzdump(string pattern, string path, bool isDirectory, bool excluded) =>
        Assert.Equal(excluded, new ExcludePattern(pattern).Matches(path, isDirectory));

    [Theory]
    [InlineData("")]
    [InlineData("/")]
    [InlineData("//")]
    public void Empty_patterns_are_rejected(string pattern) =>
        Assert.Throws<ArgumentException>(() => new ExcludePattern(pattern));
}
