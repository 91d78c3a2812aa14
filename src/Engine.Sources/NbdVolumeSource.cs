using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Engine.Blocks;
using Engine.Nbd.Client;
using Engine.Nbd.Protocol;

namespace Engine.Sources;

/// <summary>
/// A disk exported over NBD, such as QEMU's snapshot access on PVE's <c>nbd-path</c> socket or <c>qemu-nbd -B</c>.
/// Dirty regions come from block status on <c>qemu:dirty-bitmap:NAME</c>, data ranges from <c>base:allocation</c>.
/// </summary>
public sealed class NbdVolumeSource : IVolumeSource
{
    // A chunk is read as concurrent requests of this size, nbdcopy's default: qemu-nbd spends about 40 % less CPU
    // serving 256 KiB requests than 1-4 MiB ones, and it is the bottleneck of a full backup on two cores
    // (bench/RESULTS.md, "Full backup, third run").
    private const int RequestSize = 256 << 10;
    private readonly NbdClient _client;
    private readonly string? _bitmapContext;

    private NbdVolumeSource(string device, NbdClient client, string? bitmap)
    {
        Device = device;
        _client = client;
        Bitmap = bitmap;
        _bitmapContext = bitmap is null ? null : NbdWire.QemuDirtyBitmapPrefix + bitmap;
    }

    /// <inheritdoc />
    public string Device { get; }

    /// <inheritdoc />
    public long Size => _client.Size;

    /// <inheritdoc />
    public string? Bitmap { get; }

    /// <inheritdoc />
    public int ReadAlignment => 1;

    /// <inheritdoc />
    public bool CanDiscard => _client.Capabilities.HasFlag(BlockDeviceCapabilities.Trim);

    /// <summary>The client, for callers that want the export's details.</summary>
    public NbdClient Client => _client;

    /// <summary>Connects, negotiating <c>base:allocation</c> and, with a bitmap, its dirty-bitmap context.</summary>
    /// <exception cref="NbdException">The export cannot be reached, or the server does not offer the bitmap.</exception>
    public static async Task<NbdVolumeSource> ConnectAsync(string device, string uri, string? bitmap, NbdClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(device);
        ArgumentException.ThrowIfNullOrEmpty(uri);
        var contexts = bitmap is null ? new[] { NbdWire.BaseAllocation } : [NbdWire.BaseAllocation, NbdWire.QemuDirtyBitmapPrefix + bitmap];
        var baseOptions = options ?? new NbdClientOptions();
        var client = await NbdClient.ConnectAsync(uri, new NbdClientOptions
        {
            MetaContexts = contexts,
            ExtendedHeaders = baseOptions.ExtendedHeaders,
            StructuredReplies = baseOptions.StructuredReplies,
            Connections = baseOptions.Connections,
            RequestsInFlight = baseOptions.RequestsInFlight,
            ConnectTimeout = baseOptions.ConnectTimeout,
            HandshakeTimeout = baseOptions.HandshakeTimeout,
            RequestTimeout = baseOptions.RequestTimeout,
            InlineCompletions = baseOptions.InlineCompletions,
        }, cancellationToken).ConfigureAwait(false);
        if (bitmap is not null && !client.Export.MetaContexts.ContainsKey(NbdWire.QemuDirtyBitmapPrefix + bitmap))
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw new NbdException($"{uri}: the server does not export the dirty bitmap '{bitmap}' (meta context {NbdWire.QemuDirtyBitmapPrefix}{bitmap})");
        }

        return new NbdVolumeSource(device, client, bitmap);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceRange> GetDirtyRegionsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (_bitmapContext is null)
        {
            throw new InvalidOperationException($"{_client.Uri}: no dirty bitmap was requested");
        }

        // Bit 0 of a dirty-bitmap extent means dirty (QEMU's docs/interop/nbd.rst).
        await foreach (var range in Merge(_client.EnumerateExtentsAsync(_bitmapContext, cancellationToken: cancellationToken), wanted: 1, mask: 1).ConfigureAwait(false))
        {
            yield return range;
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceRange> GetDataRangesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!_client.Export.MetaContexts.ContainsKey(NbdWire.BaseAllocation))
        {
            yield return new SourceRange(0, Size);
            yield break;
        }

        // Anything not flagged "reads as zeroes" may hold data; holes that are not zero must be read too.
        await foreach (var range in Merge(_client.EnumerateExtentsAsync(NbdWire.BaseAllocation, cancellationToken: cancellationToken), wanted: 0, mask: (uint)ExtentFlags.Zero).ConfigureAwait(false))
        {
            yield return range;
        }
    }

    /// <inheritdoc />
    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        ReadPiecesAsync(offset, ranges: null, destination, cancellationToken);

    /// <inheritdoc />
    public ValueTask ReadRangesAsync(long offset, IReadOnlyList<SourceRange> ranges, Memory<byte> destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        return ReadPiecesAsync(offset, ranges, destination, cancellationToken);
    }

    /// <summary>
    /// Reads <paramref name="ranges"/> (null: all of <paramref name="destination"/>) as requests of at most
    /// <see cref="RequestSize"/>, all sent before the first reply is awaited.
    /// </summary>
    /// <remarks>
    /// Each reply resumes this method on the connection's reader thread (<see cref="NbdClient.ReadInlineAsync"/>),
    /// which only moves on to await the next request; once all are in, one hop to the thread pool hands the buffer to
    /// the caller, who hashes, compresses and writes it. Awaiting each reply on the thread pool instead cost one thread
    /// wake-up per 256 KiB request (bench/RESULTS.md, "Full backup at the CPU floor"). The ValueTasks are awaited in
    /// place (no Task per request), and every one is awaited even after a failure: the caller returns the buffer to
    /// the pool only once no reply can still land in it.
    /// </remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadPiecesAsync(long offset, IReadOnlyList<SourceRange>? ranges, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var rangeCount = ranges?.Count ?? 1;
        var count = 0;
        for (var r = 0; r < rangeCount; r++)
        {
            var length = ranges is null ? destination.Length : ranges[r].Length;
            count += (int)((length + RequestSize - 1) / RequestSize);
        }

        var requests = ArrayPool<ValueTask>.Shared.Rent(count);
        var issued = 0;
        Exception? first = null;
        try
        {
            try
            {
                for (var r = 0; r < rangeCount; r++)
                {
                    var (start, length) = ranges is null ? (0, destination.Length) : (checked((int)(ranges[r].Offset - offset)), checked((int)ranges[r].Length));
                    var target = destination.Slice(start, length);
                    for (var done = 0; done < length; done += RequestSize, issued++)
                    {
#pragma warning disable CA2012 // stored to be awaited exactly once, below
                        requests[issued] = _client.ReadInlineAsync(offset + start + done, target.Slice(done, Math.Min(RequestSize, length - done)), cancellationToken);
#pragma warning restore CA2012
                    }
                }
            }
            catch (Exception e)
            {
                first = e;
            }

            for (var i = 0; i < issued; i++)
            {
                try
                {
                    await requests[i].ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    first ??= e;
                }
            }
        }
        finally
        {
            ArrayPool<ValueTask>.Shared.Return(requests, clearArray: true);

            // Off the reader thread, failed or not, before the caller goes on.
            await Task.Yield();
        }

        if (first is not null)
        {
            ExceptionDispatchInfo.Throw(first);
        }
    }

    /// <inheritdoc />
    public bool TryGetMapped(long offset, int length, out ReadOnlyMemory<byte> data)
    {
        data = default;
        return false;
    }

    /// <inheritdoc />
    public void ReleaseMapped(long offset, long length)
    {
    }

    /// <inheritdoc />
    public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken) =>
        CanDiscard ? _client.TrimAsync(offset, length, WriteFlags.None, cancellationToken) : ValueTask.CompletedTask;

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _client.DisposeAsync();

    /// <summary>Extents whose <paramref name="mask"/> bits equal <paramref name="wanted"/>, adjacent ones merged.</summary>
    private static async IAsyncEnumerable<SourceRange> Merge(IAsyncEnumerable<Extent> extents, uint wanted, uint mask)
    {
        long start = -1, end = -1;
        await foreach (var extent in extents.ConfigureAwait(false))
        {
            if (((uint)extent.Flags & mask) != wanted || extent.Length == 0)
            {
                continue;
            }

            if (extent.Offset == end)
            {
                end = extent.End;
                continue;
            }

            if (start >= 0)
            {
                yield return new SourceRange(start, end - start);
            }

            (start, end) = (extent.Offset, extent.End);
        }

        if (start >= 0)
        {
            yield return new SourceRange(start, end - start);
        }
    }
}
