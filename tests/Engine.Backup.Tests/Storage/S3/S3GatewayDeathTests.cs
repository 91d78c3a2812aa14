using System.Diagnostics;
using Xunit.Abstractions;
using static Engine.Backup.Tests.Storage.S3.S3CliSteps;

namespace Engine.Backup.Tests.Storage.S3;

/// <summary>
/// radosgw killed in the middle of an <c>engine backup</c>: the backup gives up within its retry budget with a message
/// naming the bucket and the endpoint, no snapshot becomes visible, and once the gateway is back a retry commits and
/// restores. The gateway is killed and restarted in place (<see cref="CephGateway.KillRadosgwAsync"/>); the tests of
/// the collection run one at a time, so no other test sees it gone.
/// </summary>
[Collection(CephGateway.Collection)]
public sealed class S3GatewayDeathTests(CephGateway gateway, ITestOutputHelper output) : IDisposable
{
    private const int DiskBytes = 96 << 20;

    /// <summary>
    /// RetryOptions.Default: 6 attempts, backoff from 0.5 s doubling (about 16 s of waits, jittered), connection
    /// refused at once; with the CLI's start and the machine shared, a minute is well above it and well below a hang.
    /// </summary>
    private static readonly TimeSpan RetryBudget = TimeSpan.FromSeconds(60);

    private readonly TempDir _dir = new();

    [Fact]
    public async Task Radosgw_killed_mid_backup_fails_cleanly_leaves_no_snapshot_and_the_retry_restores()
    {
        Assert.NotEmpty(gateway.Endpoint);
        var repo = await InitAsync("killed");
        var disk = _dir["disk.raw"];
        await File.WriteAllBytesAsync(disk, Repository.TempRepository.Random(DiskBytes, 91));
        var bucket = Engine.Backup.S3.S3RepositoryLocation.Parse(repo).Bucket;

        int exitCode;
        string stderr;
        TimeSpan failedAfter;
        await using (var backup = EngineCli.Start(BackupArgs(repo, 901, disk)))
        {
            try
            {
                // Mid-backup: some chunks are in, the manifest is not.
                var deadline = DateTime.UtcNow + EngineCli.Timeout;
                while ((await StoredAsync(gateway, repo, "chunks/")).Objects < 2)
                {
                    Assert.False(backup.HasExited, $"the backup ended before the gateway was killed: nothing was tested\n{backup.Describe()}");
                    Assert.True(DateTime.UtcNow < deadline, $"no chunk uploaded within {EngineCli.Timeout}\n{backup.Describe()}");
                    await Task.Delay(20);
                }

                Assert.False(backup.HasExited, $"the backup ended before the gateway was killed\n{backup.Describe()}");
                await gateway.KillRadosgwAsync();
                var killed = Stopwatch.StartNew();
                exitCode = await backup.WaitForExitAsync(RetryBudget);
                failedAfter = killed.Elapsed;
                stderr = backup.Stderr;
            }
            finally
            {
                await RestartIfDownAsync();
            }
        }

        output.WriteLine($"exit code {exitCode} {failedAfter.TotalSeconds:F1} s after radosgw was killed: {stderr}");
        Assert.True(exitCode == 1, $"expected exit code 1 from a backup whose gateway died, got {exitCode} after {failedAfter}\n{stderr}");
        Assert.Contains("no snapshot was made", stderr, StringComparison.Ordinal);
        Assert.Contains(bucket, stderr, StringComparison.Ordinal);
        Assert.Contains(gateway.Endpoint, stderr, StringComparison.Ordinal);
        foreach (var leak in (string[])["   at ", "Exception", "(Parameter '"])
        {
            Assert.False(stderr.Contains(leak, StringComparison.Ordinal), $"runtime text '{leak}' reached the user after {failedAfter}\n{stderr}");
        }

        // Nothing visible: no snapshot listed, no manifest in the bucket.
        Assert.Empty(await SnapshotsAsync(repo));
        Assert.DoesNotContain(await ObjectsAsync(gateway, repo, "snapshots/"), entry => entry.Key.EndsWith("manifest.json", StringComparison.Ordinal));

        // The retry on the gateway that is back commits, restores byte-exact, and verifies.
        var snapshot = await BackupAsync(repo, 901, disk);
        Assert.Equal([snapshot], await SnapshotsAsync(repo));
        await AssertRestoresAsync(repo, snapshot, disk, _dir["restored.raw"]);
        (await EngineCli.RunAsync("verify", "--repo", repo)).AssertSuccess();
    }

    /// <summary>Starts radosgw again unless it answers (the test failed before killing it).</summary>
    private async Task RestartIfDownAsync()
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            var endpoint = new Uri(gateway.Endpoint);
            await client.ConnectAsync(endpoint.Host, endpoint.Port);
        }
        catch (System.Net.Sockets.SocketException)
        {
            await gateway.StartRadosgwAsync();
        }
    }

    public void Dispose() => _dir.Dispose();
}
