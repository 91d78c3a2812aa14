using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Engine.Tests.Shared;

/// <summary>
/// A throwaway Ceph cluster with its S3 gateway (radosgw) on 127.0.0.1, started once per test run for every test class
/// in the <see cref="Collection"/> collection by fixtures/services/ceph-rgw.sh, and stopped (its RAM store gone) at
/// the end. Ports are free ones picked at start, so runs beside other gateways on the machine do not collide. The
/// endpoint and keys are also exported as AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION,
/// so an <c>engine</c> process a test starts reaches the gateway the way a user's would. Without the Ceph packages
/// every test of the collection fails, naming them.
/// </summary>
public sealed class CephGateway : IAsyncLifetime
{
    /// <summary>The xunit collection whose classes share the gateway (<c>[Collection(CephGateway.Collection)]</c>).</summary>
    public const string Collection = "Ceph S3 gateway";

    /// <summary>The Debian packages the gateway needs (installed by .ci/setup with --no-install-recommends).</summary>
    public const string Packages = "ceph-mon ceph-osd radosgw ceph-common";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(150);

    private string? _directory;

    /// <summary>The gateway's URL (<c>http://127.0.0.1:PORT</c>).</summary>
    public string Endpoint { get; private set; } = "";

    public string AccessKey { get; private set; } = "";

    public string SecretKey { get; private set; } = "";

    /// <summary>A bucket name no other test uses: <c>engine-PURPOSE-RANDOM</c>.</summary>
    public static string NewBucketName(string purpose) =>
        $"engine-{purpose.ToLowerInvariant()}-{Guid.NewGuid().ToString("N")[..12]}";

    /// <summary>A port on 127.0.0.1 nothing listens on (it was free a moment ago), for "gateway down" tests.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async Task InitializeAsync()
    {
        var missing = new[] { "/usr/bin/ceph-mon", "/usr/bin/ceph-osd", "/usr/bin/radosgw", "/usr/bin/ceph" }.Where(p => !File.Exists(p)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"{string.Join(", ", missing)} missing: the S3 tests run against Ceph radosgw; install the Debian packages {Packages} (apt-get install --no-install-recommends {Packages})");
        }

        _directory = "/tmp/eit-ceph-" + Guid.NewGuid().ToString("N")[..10];
        var (exitCode, stdout, stderr) = await RunScriptAsync(StartTimeout, "start", new Dictionary<string, string>
        {
            ["RGW_PORT"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MON_PORT"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            // The OSD keeps everything in RAM; the tests store a few MiB, and the machine is shared.
            ["MEMSTORE_BYTES"] = (1L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"ceph-rgw.sh start failed (exit {exitCode}): {stderr}{stdout}; logs in {_directory}/log");
        }

        var values = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2))
            .Where(pair => pair.Length == 2)
            .ToDictionary(pair => pair[0], pair => pair[1], StringComparer.Ordinal);
        Endpoint = values["S3_ENDPOINT"];
        AccessKey = values["S3_ACCESS_KEY"];
        SecretKey = values["S3_SECRET_KEY"];
        Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL", Endpoint);
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", AccessKey);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", SecretKey);
        Environment.SetEnvironmentVariable("AWS_REGION", "us-east-1");
    }

    public async Task DisposeAsync()
    {
        if (_directory is null)
        {
            return;
        }

        await RunScriptAsync(TimeSpan.FromSeconds(60), "stop", new Dictionary<string, string>());
    }

    /// <summary>
    /// Kills radosgw (SIGKILL, as a crash would) and leaves the rest of the cluster running: the "gateway died" tests.
    /// Tests of the collection run one at a time, so no other test sees the gateway gone; the caller restarts it with
    /// <see cref="StartRadosgwAsync"/> before it ends, also when it fails (<c>try/finally</c>).
    /// </summary>
    public async Task KillRadosgwAsync() => await RunScriptOrFailAsync("stop-rgw");

    /// <summary>Starts radosgw again on the same port with the same users and buckets, and waits until it answers.</summary>
    public async Task StartRadosgwAsync() => await RunScriptOrFailAsync("start-rgw");

    private async Task RunScriptOrFailAsync(string command)
    {
        var (exitCode, stdout, stderr) = await RunScriptAsync(StartTimeout, command, new Dictionary<string, string>());
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"ceph-rgw.sh {command} failed (exit {exitCode}): {stderr}{stdout}; logs in {_directory}/log");
        }
    }

    /// <summary>Runs <c>ceph-rgw.sh COMMAND DIR</c>; kills it and fails when it takes longer than <paramref name="timeout"/>.</summary>
    private async Task<(int ExitCode, string Stdout, string Stderr)> RunScriptAsync(TimeSpan timeout, string command, Dictionary<string, string> environment)
    {
        var info = new ProcessStartInfo("/bin/bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Script);
        info.ArgumentList.Add(command);
        info.ArgumentList.Add(_directory!);
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"ceph-rgw.sh {command} did not finish in {timeout.TotalSeconds} s; logs in {_directory}/log");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>fixtures/services/ceph-rgw.sh of the checkout the tests were built in.</summary>
    private static string Script
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                var script = Path.Combine(directory.FullName, "fixtures", "services", "ceph-rgw.sh");
                if (File.Exists(Path.Combine(directory.FullName, "Engine.sln")) && File.Exists(script))
                {
                    return script;
                }
            }

            throw new InvalidOperationException($"fixtures/services/ceph-rgw.sh not found above {AppContext.BaseDirectory}");
        }
    }
}
