using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Nbd.Client;

namespace Engine.Cli;

/// <summary>Opens the things a command can read from or write to: NBD URIs, local files and block devices, <c>null:</c>.</summary>
internal static class Endpoints
{
    public const string Null = "null:";

    public static Task<NbdClient> ConnectAsync(string uri, NbdClientOptions options, CancellationToken cancellationToken) =>
        NbdClient.ConnectAsync(NbdUri.Parse(uri), options, cancellationToken);

    /// <summary>Opens a copy source.</summary>
    public static async Task<IBlockDevice> OpenSourceAsync(string spec, NbdClientOptions options, CancellationToken cancellationToken)
    {
        if (spec == Null)
        {
            throw new ArgumentException("null: can only be a target");
        }

        if (NbdUri.IsNbdUri(spec))
        {
            return await ConnectAsync(spec, options, cancellationToken).ConfigureAwait(false);
        }

        return FileBlockDevice.Open(spec, new FileBlockDeviceOptions { ReadOnly = true });
    }

    /// <summary>Opens a copy target of at least <paramref name="size"/> bytes. A regular file is created or truncated, so it starts out zeroed.</summary>
    public static async Task<(IBlockDevice Device, bool Zeroed)> OpenTargetAsync(string spec, long size, NbdClientOptions options, CancellationToken cancellationToken)
    {
        if (spec == Null)
        {
            return (new NullBlockDevice(size), true);
        }

        if (NbdUri.IsNbdUri(spec))
        {
            return (await ConnectAsync(spec, options, cancellationToken).ConfigureAwait(false), false);
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
