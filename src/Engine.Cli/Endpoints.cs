using System.CommandLine;
using System.Globalization;
using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Nbd.Client;

namespace Engine.Cli;

/// <summary>Opens the things a command can read from or write to: NBD URIs, local files and block devices, <c>null:</c>.</summary>
internal static class Endpoints
{
    public const string Null = "null:";

    /// <summary>How long a connect may take before the command says on stderr what it is waiting for.</summary>
    private static readonly TimeSpan WaitNotice = TimeSpan.FromSeconds(1);

    /// <summary>The <c>--connect-timeout SECONDS</c> flag of commands that connect to an NBD server.</summary>
    public static Option<double> ConnectTimeoutOption() => new("--connect-timeout")
    {
        Description = "Keep retrying for up to SECONDS while nothing listens yet, for a server still starting (default 0: fail at once).",
    };

    /// <summary>Checks a <c>--connect-timeout</c> value.</summary>
    /// <exception cref="FormatException">Negative, or not a finite number of seconds.</exception>
    public static TimeSpan ConnectTimeout(double seconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0 || seconds > int.MaxValue / 1000)
        {
            throw new FormatException($"--connect-timeout {seconds.ToString(CultureInfo.InvariantCulture)}: must be zero or a positive number of seconds");
        }

        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>Connects to an NBD export; see <see cref="NoticeWaitAsync"/>.</summary>
    /// <exception cref="NbdConnectException">Nothing answered at the URI's socket or address.</exception>
    public static Task<NbdClient> ConnectAsync(string command, NbdUri uri, NbdClientOptions options, CancellationToken cancellationToken) =>
        NoticeWaitAsync(command, uri, options, NbdClient.ConnectAsync(uri, options, cancellationToken));

    /// <summary>
    /// Awaits a connection, and if it is not there after a second says on stderr which server it waits for and how
    /// long it may, so that a server that is slow or still starting is never a silent hang.
    /// </summary>
    public static async Task<T> NoticeWaitAsync<T>(string command, NbdUri uri, NbdClientOptions options, Task<T> connecting)
    {
        if (await Task.WhenAny(connecting, Task.Delay(WaitNotice)).ConfigureAwait(false) != connecting)
        {
            var limit = options.ConnectTimeout > TimeSpan.Zero
                ? $"retrying for up to {options.ConnectTimeout.TotalSeconds:0.###} s"
                : $"up to {options.HandshakeTimeout.TotalSeconds:0.###} s";
            await Console.Error.WriteLineAsync($"engine {command}: waiting for the NBD server at {uri.Endpoint} ({limit})").ConfigureAwait(false);
        }

        return await connecting.ConfigureAwait(false);
    }

    /// <summary>Opens a copy source; a local file as <paramref name="format"/> (raw or qcow2), or probed when null.</summary>
    public static async Task<IBlockDevice> OpenSourceAsync(string command, string spec, NbdClientOptions options, CancellationToken cancellationToken, string? format = null)
    {
        if (spec == Null)
        {
            throw new ArgumentException("null: can only be a target");
        }

        if (NbdUri.IsNbdUri(spec))
        {
            return await ConnectAsync(command, NbdUri.Parse(spec), options, cancellationToken).ConfigureAwait(false);
        }

        return Qcow2Files.OpenSource(spec, format);
    }

    /// <summary>Opens a copy target of at least <paramref name="size"/> bytes. A regular file is created or truncated, so it starts out zeroed.</summary>
    public static async Task<(IBlockDevice Device, bool Zeroed)> OpenTargetAsync(string command, string spec, long size, NbdClientOptions options, CancellationToken cancellationToken)
    {
        if (spec == Null)
        {
            return (new NullBlockDevice(size), true);
        }

        if (NbdUri.IsNbdUri(spec))
        {
            return (await ConnectAsync(command, NbdUri.Parse(spec), options, cancellationToken).ConfigureAwait(false), false);
        }

        // Device nodes are written in place; anything else is a regular file that starts fresh (and so reads as zeroes).
        var isDevice = Path.GetFullPath(spec).StartsWith("/dev/", StringComparison.Ordinal);
        if (!isDevice)
        {
            using (var stream = new FileStream(spec, FileMode.Create, FileAccess.Write))
            {
                stream.SetLength(size);
            }

            // A copy target is written once, front to back: keep it from flooding the page cache.
            return (FileBlockDevice.Open(spec, new FileBlockDeviceOptions { StreamingWrites = true }), true);
        }

        return (FileBlockDevice.Open(spec, new FileBlockDeviceOptions()), false);
    }
}
