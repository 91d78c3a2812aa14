using Engine.Nbd.Client;
using Engine.Sources;

namespace Engine.Cli;

/// <summary>
/// Opens the disks <c>engine backup --disk NAME=SOURCE</c> names. SOURCE is an NBD URI or a local path, with an
/// optional fragment of <c>&amp;</c>-separated options:
/// <list type="bullet">
/// <item><c>nbd+unix:///drive-scsi0?socket=S#bitmap=NAME</c>: dirty regions from <c>qemu:dirty-bitmap:NAME</c>;</item>
/// <item><c>PATH#dirty-map=FILE</c>: dirty regions from a file in <c>nbdinfo --map</c> text layout; the bitmap the
/// map came from is named by <c>bitmap=NAME</c> (default <c>dirty-map</c>) so the next backup finds its lineage.</item>
/// </list>
/// </summary>
internal static class DiskSources
{
    private const string DefaultMapBitmap = "dirty-map";

    /// <summary>Splits <c>NAME=SOURCE</c>.</summary>
    /// <exception cref="FormatException">No '=' or an empty side.</exception>
    public static (string Device, string Source) SplitDisk(string spec)
    {
        var equals = spec.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0 || equals == spec.Length - 1)
        {
            throw new FormatException($"--disk {spec}: expected NAME=SOURCE");
        }

        return (spec[..equals], spec[(equals + 1)..]);
    }

    /// <summary>Opens a source; the caller disposes it.</summary>
    /// <exception cref="FormatException">The fragment holds an unknown key.</exception>
    /// <exception cref="FileNotFoundException">A path or dirty map does not exist.</exception>
    public static async Task<IVolumeSource> OpenAsync(string device, string spec, bool discard, CancellationToken cancellationToken)
    {
        var hash = spec.IndexOf('#', StringComparison.Ordinal);
        var target = hash < 0 ? spec : spec[..hash];
        string? bitmap = null, dirtyMap = null;
        if (hash >= 0)
        {
            foreach (var pair in spec[(hash + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var (key, value) = equals < 0 ? (pair, string.Empty) : (pair[..equals], Uri.UnescapeDataString(pair[(equals + 1)..]));
                switch (key)
                {
                    case "bitmap" when value.Length > 0:
                        bitmap = value;
                        break;
                    case "dirty-map" when value.Length > 0:
                        dirtyMap = value;
                        break;
                    default:
                        throw new FormatException($"--disk {device}={spec}: unknown option '{pair}' (expected bitmap=NAME or dirty-map=FILE)");
                }
            }
        }

        if (NbdUri.IsNbdUri(target))
        {
            if (dirtyMap is not null)
            {
                throw new FormatException($"--disk {device}: dirty-map is for file sources; an NBD source takes bitmap=NAME");
            }

            return await NbdVolumeSource.ConnectAsync(device, target, bitmap, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        if (!File.Exists(target) && !target.StartsWith("/dev/", StringComparison.Ordinal))
        {
            throw new FileNotFoundException($"{target}: no such file", target);
        }

        IAsyncEnumerable<SourceRange>? regions = null;
        if (dirtyMap is not null)
        {
            if (!File.Exists(dirtyMap))
            {
                throw new FileNotFoundException($"{dirtyMap}: no such dirty map", dirtyMap);
            }

            bitmap ??= DefaultMapBitmap;
            regions = ReadMap(dirtyMap, new FileInfo(target).Length, cancellationToken);
        }
        else if (bitmap is not null)
        {
            throw new FormatException($"--disk {device}: a file source needs dirty-map=FILE to go with bitmap={bitmap}");
        }

        return FileVolumeSource.Open(device, target, bitmap, regions, discard);
    }

    private static async IAsyncEnumerable<SourceRange> ReadMap(string path, long size, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(path);
        await foreach (var range in DirtyMapReader.ReadAsync(reader, path, size, cancellationToken).ConfigureAwait(false))
        {
            yield return range;
        }
    }
}
