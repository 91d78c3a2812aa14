using System.Runtime.CompilerServices;
using Engine.Blocks;
using Engine.Blocks.Buffers;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Client;

/// <summary>
/// A thread-safe NBD client over one or more connections (multi-conn when the server allows it). Requests larger
/// than the server's maximum payload are split; pieces run in parallel across connections and complete out of
/// order. It is also an <see cref="IBlockDevice"/>, so anything that copies between devices can read or write NBD.
/// </summary>
public sealed class NbdClient : IBlockDevice
{
    private readonly NbdClientConnection[] _connections;
    private readonly NbdExportInfo _export;
    private int _next;
    private int _disposed;

    private NbdClient(NbdUri uri, NbdClientConnection[] connections)
    {
        Uri = uri;
        _connections = connections;
        _export = connections[0].Export;
    }

    /// <summary>Where the client is connected.</summary>
    public NbdUri Uri { get; }

    /// <summary>What the handshake learned about the export.</summary>
    public NbdExportInfo Export => _export;

    /// <summary>Connections in use.</summary>
    public int ConnectionCount => _connections.Length;

    /// <inheritdoc />
    public long Size => _export.Size;

    /// <inheritdoc />
    public int MinimumBlockSize => _export.MinimumBlockSize;

    /// <inheritdoc />
    public int PreferredBlockSize => _export.PreferredBlockSize;

    /// <inheritdoc />
    public BlockDeviceCapabilities Capabilities
    {
        get
        {
            var flags = _export.Flags;
            var caps = BlockDeviceCapabilities.None;
            caps |= flags.HasFlag(TransmissionFlags.ReadOnly) ? BlockDeviceCapabilities.ReadOnly : 0;
            caps |= flags.HasFlag(TransmissionFlags.SendFlush) ? BlockDeviceCapabilities.Flush : 0;
            caps |= flags.HasFlag(TransmissionFlags.SendFua) ? BlockDeviceCapabilities.Fua : 0;
            caps |= flags.HasFlag(TransmissionFlags.SendTrim) ? BlockDeviceCapabilities.Trim : 0;
            caps |= flags.HasFlag(TransmissionFlags.SendWriteZeroes) ? BlockDeviceCapabilities.WriteZeroes : 0;
            caps |= flags.HasFlag(TransmissionFlags.SendFastZero) ? BlockDeviceCapabilities.FastZero : 0;
            caps |= flags.HasFlag(TransmissionFlags.SendCache) ? BlockDeviceCapabilities.Cache : 0;
            caps |= flags.HasFlag(TransmissionFlags.CanMultiConn) ? BlockDeviceCapabilities.MultiConnSafe : 0;
            caps |= _export.MetaContexts.ContainsKey(NbdWire.BaseAllocation) ? BlockDeviceCapabilities.Extents : 0;
            return caps;
        }
    }

    /// <summary>
    /// Connects to <paramref name="uri"/>. Nothing listening fails at once, unless
    /// <see cref="NbdClientOptions.ConnectTimeout"/> asks to keep retrying for a server that is still starting.
    /// </summary>
    /// <exception cref="FormatException">The URI is malformed.</exception>
    /// <exception cref="NbdConnectException">The server could not be reached, or hung up before its greeting.</exception>
    /// <exception cref="NbdException">TLS was asked for, the export does not exist, or the handshake failed.</exception>
    public static Task<NbdClient> ConnectAsync(string uri, NbdClientOptions? options = null, CancellationToken cancellationToken = default) =>
        ConnectAsync(NbdUri.Parse(uri), options, cancellationToken);

    /// <inheritdoc cref="ConnectAsync(string, NbdClientOptions?, CancellationToken)"/>
    public static async Task<NbdClient> ConnectAsync(NbdUri uri, NbdClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uri);
        options ??= new NbdClientOptions();
        var first = await NbdClientConnection.ConnectAsync(uri, options, cancellationToken).ConfigureAwait(false);
        // By default one connection per core, up to four: each has a reader thread, and more than the cores only adds switching.
        var count = options.Connections > 0 ? options.Connections : first.Export.CanMultiConn ? Math.Clamp(Environment.ProcessorCount, 1, 4) : 1;
        if (count > 1 && !first.Export.CanMultiConn)
        {
            // Without multi-conn, writes on one connection need not be visible on another: one connection is the safe answer.
            count = 1;
        }

        var connections = new NbdClientConnection[count];
        connections[0] = first;
        try
        {
            var others = new Task<NbdClientConnection>[count - 1];
            for (var i = 1; i < count; i++)
            {
                others[i - 1] = NbdClientConnection.ConnectAsync(uri, options, cancellationToken);
            }

            for (var i = 1; i < count; i++)
            {
                connections[i] = await others[i - 1].ConfigureAwait(false);
            }
        }
        catch
        {
            foreach (var connection in connections)
            {
                connection?.Dispose();
            }

            throw;
        }

        return new NbdClient(uri, connections);
    }

    /// <summary>
    /// Lists a server's exports with NBD_OPT_LIST, plus each one's description from NBD_OPT_INFO. Of
    /// <paramref name="options"/> only the connect and handshake timeouts apply.
    /// </summary>
    /// <exception cref="NbdConnectException">The server could not be reached.</exception>
    /// <exception cref="NbdConnectionException">The server did not answer within the handshake timeout.</exception>
    public static Task<IReadOnlyList<NbdExportListing>> ListExportsAsync(NbdUri uri, NbdClientOptions? options = null, CancellationToken cancellationToken = default) =>
        OptionSessionAsync(uri, options, handshake =>
        {
            var listed = handshake.ListExports();
            var result = new List<NbdExportListing>(listed.Count);
            foreach (var export in listed)
            {
                var description = export.Description;
                try
                {
                    description = handshake.Info(export.Name).Description ?? description;
                }
                catch (NbdException)
                {
                    // Older servers without NBD_OPT_INFO still list names.
                }

                result.Add(export with { Description = description });
            }

            return (IReadOnlyList<NbdExportListing>)result;
        }, cancellationToken);

    /// <summary>
    /// Lists the meta contexts an export offers (NBD_OPT_LIST_META_CONTEXT with no query lists them all). Of
    /// <paramref name="options"/> only the connect and handshake timeouts apply.
    /// </summary>
    /// <exception cref="NbdConnectException">The server could not be reached.</exception>
    /// <exception cref="NbdConnectionException">The server did not answer within the handshake timeout.</exception>
    public static Task<IReadOnlyList<string>> ListMetaContextsAsync(NbdUri uri, NbdClientOptions? options = null, CancellationToken cancellationToken = default) =>
        OptionSessionAsync(uri, options, handshake => (IReadOnlyList<string>)handshake.ListMetaContexts(uri.ExportName, []), cancellationToken);

    /// <inheritdoc />
    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        ReadCoreAsync(offset, destination, completeInline: false, cancellationToken);

    /// <summary>
    /// <see cref="ReadAsync"/>, but whatever awaits it resumes on the connection's reader thread as soon as the reply
    /// is in (see <see cref="NbdClientOptions.InlineCompletions"/>), for this request only. A caller that issues many
    /// reads and awaits them all then wakes up once, not once per reply; it must leave the reader thread (for instance
    /// with <c>await Task.Yield()</c>) before any work that blocks or takes long, or the connection stalls.
    /// </summary>
    /// <param name="offset">Where the read starts.</param>
    /// <param name="destination">Receives exactly its length in bytes, straight from the connection.</param>
    /// <param name="cancellationToken">Stops waiting for a free request slot.</param>
    public ValueTask ReadInlineAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        ReadCoreAsync(offset, destination, completeInline: true, cancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadCoreAsync(long offset, Memory<byte> destination, bool completeInline, CancellationToken cancellationToken)
    {
        CheckRange(offset, destination.Length);
        var minimum = _export.MinimumBlockSize;
        if (minimum > 1 && ((offset | (long)destination.Length) & (minimum - 1)) != 0)
        {
            await ReadUnalignedAsync(offset, destination, completeInline, cancellationToken).ConfigureAwait(false);
            return;
        }

        var max = MaxRequest();
        if (destination.Length <= max)
        {
            await Next().SendAsync(NbdRequest.Read(offset, destination, completeInline), cancellationToken).ConfigureAwait(false);
            return;
        }

        var pieces = new List<Task>();
        for (var done = 0; done < destination.Length; done += max)
        {
            var length = Math.Min(max, destination.Length - done);
            pieces.Add(Next().SendAsync(NbdRequest.Read(offset + done, destination.Slice(done, length), completeInline), cancellationToken).AsTask());
        }

        await Task.WhenAll(pieces).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, source.Length);
        var minimum = _export.MinimumBlockSize;
        if (minimum > 1 && ((offset | (long)source.Length) & (minimum - 1)) != 0)
        {
            throw new ArgumentException($"{Uri}: write at {offset}+{source.Length} is not aligned to the server's {minimum}-byte minimum block size");
        }

        var commandFlags = flags.HasFlag(WriteFlags.Fua) ? CommandFlags.Fua : CommandFlags.None;
        var max = MaxRequest();
        if (source.Length <= max)
        {
            await Next().SendAsync(NbdRequest.Write(commandFlags, offset, source), cancellationToken).ConfigureAwait(false);
            return;
        }

        var pieces = new List<Task>();
        for (var done = 0; done < source.Length; done += max)
        {
            var length = Math.Min(max, source.Length - done);
            pieces.Add(Next().SendAsync(NbdRequest.Write(commandFlags, offset + done, source.Slice(done, length)), cancellationToken).AsTask());
        }

        await Task.WhenAll(pieces).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        // Each connection flushes what it wrote; with multi-conn any one would do, but all is always correct.
        var flushes = new Task[_connections.Length];
        for (var i = 0; i < _connections.Length; i++)
        {
            flushes[i] = _connections[i].SendAsync(NbdRequest.Effect(NbdCommand.Flush, CommandFlags.None, 0, 0), cancellationToken).AsTask();
        }

        await Task.WhenAll(flushes).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask TrimAsync(long offset, long length, WriteFlags flags = WriteFlags.None, CancellationToken cancellationToken = default) =>
        EffectCommandAsync(NbdCommand.Trim, flags.HasFlag(WriteFlags.Fua) ? CommandFlags.Fua : CommandFlags.None, offset, length, cancellationToken);

    /// <inheritdoc />
    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default) =>
        EffectCommandAsync(NbdCommand.Cache, CommandFlags.None, offset, length, cancellationToken);

    /// <inheritdoc />
    public ValueTask WriteZeroesAsync(long offset, long length, WriteZeroesFlags flags, CancellationToken cancellationToken = default)
    {
        var commandFlags = CommandFlags.None;
        commandFlags |= flags.HasFlag(WriteZeroesFlags.MayPunchHole) ? 0 : CommandFlags.NoHole;
        commandFlags |= flags.HasFlag(WriteZeroesFlags.FastOnly) ? CommandFlags.FastZero : 0;
        commandFlags |= flags.HasFlag(WriteZeroesFlags.Fua) ? CommandFlags.Fua : 0;
        return EffectCommandAsync(NbdCommand.WriteZeroes, commandFlags, offset, length, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>Reports <c>base:allocation</c>, or one data extent when the server has no such context.</remarks>
    public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        if (!_export.MetaContexts.ContainsKey(NbdWire.BaseAllocation))
        {
            CheckRange(offset, length);
            extents.Add(offset, length, ExtentFlags.Data);
            return ValueTask.FromResult(length);
        }

        return GetExtentsAsync(NbdWire.BaseAllocation, offset, length, extents, cancellationToken);
    }

    /// <summary>
    /// One NBD_CMD_BLOCK_STATUS round trip for <paramref name="context"/>: appends extents starting at
    /// <paramref name="offset"/> (the server may answer a prefix) and returns how many bytes of the request they cover.
    /// </summary>
    /// <exception cref="ArgumentException">The context was not negotiated.</exception>
    public async ValueTask<long> GetExtentsAsync(string context, long offset, long length, ExtentList extents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(extents);
        CheckRange(offset, length);
        if (!_export.MetaContexts.TryGetValue(context, out var id))
        {
            throw new ArgumentException($"{Uri}: meta context '{context}' was not negotiated (the server offers: {string.Join(", ", _export.MetaContexts.Keys)})", nameof(context));
        }

        var requestLength = _export.ExtendedHeaders ? length : Math.Min(length, uint.MaxValue & ~(long)(Math.Max(_export.MinimumBlockSize, 512) - 1));
        var before = extents.Count;
        await Next().SendAsync(NbdRequest.BlockStatus(offset, requestLength, id, extents), cancellationToken).ConfigureAwait(false);
        if (extents.Count == before)
        {
            throw new NbdConnectionException($"{Uri}: block status for {context} at {offset} returned no extents");
        }

        return Math.Min(extents.End - offset, length);
    }

    /// <summary>Every extent of <paramref name="context"/> in <c>[offset, offset+length)</c>, looping over short replies.</summary>
    public async IAsyncEnumerable<Extent> EnumerateExtentsAsync(string context, long offset = 0, long length = -1, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var end = length < 0 ? Size : offset + length;
        var extents = new ExtentList();
        while (offset < end)
        {
            extents.Clear();
            await GetExtentsAsync(context, offset, end - offset, extents, cancellationToken).ConfigureAwait(false);
            foreach (var extent in extents.AsSpan().ToArray())
            {
                if (extent.Offset >= end)
                {
                    break;
                }

                var clipped = extent.End > end ? extent with { Length = end - extent.Offset } : extent;
                yield return clipped;
                offset = clipped.End;
            }
        }
    }

    /// <summary>Sends NBD_CMD_DISC on every connection and closes them.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            foreach (var connection in _connections)
            {
                connection.Disconnect();
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Runs option-phase queries on a fresh connection, then aborts it.</summary>
    private static async Task<T> OptionSessionAsync<T>(NbdUri uri, NbdClientOptions? options, Func<ClientHandshake, T> query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var (result, channel) = await NbdConnector.NegotiateAsync(uri, options ?? new NbdClientOptions(), handshake =>
        {
            var result = query(handshake);
            handshake.Abort();
            return result;
        }, cancellationToken).ConfigureAwait(false);
        channel.Dispose();
        return result;
    }

    private async ValueTask EffectCommandAsync(NbdCommand command, CommandFlags flags, long offset, long length, CancellationToken cancellationToken)
    {
        CheckRange(offset, length);
        var max = _export.ExtendedHeaders ? long.MaxValue : (uint.MaxValue & ~(long)(Math.Max(_export.MinimumBlockSize, 4096) - 1));
        for (var done = 0L; done < length || (length == 0 && done == 0); done += max)
        {
            var piece = Math.Min(max, length - done);
            await Next().SendAsync(NbdRequest.Effect(command, flags, offset + done, piece), cancellationToken).ConfigureAwait(false);
            if (length == 0)
            {
                break;
            }
        }
    }

    private async ValueTask ReadUnalignedAsync(long offset, Memory<byte> destination, bool completeInline, CancellationToken cancellationToken)
    {
        var minimum = _export.MinimumBlockSize;
        var start = offset & ~(long)(minimum - 1);
        var end = Math.Min(Size, (offset + destination.Length + minimum - 1) & ~(long)(minimum - 1));
        using var bounce = BufferPool.Shared.Rent(checked((int)(end - start)));
        await ReadCoreAsync(start, bounce.Memory, completeInline, cancellationToken).ConfigureAwait(false);
        bounce.Memory.Slice((int)(offset - start), destination.Length).CopyTo(destination);
    }

    private int MaxRequest()
    {
        var max = _export.MaximumPayload;
        var minimum = _export.MinimumBlockSize;
        return max & ~(minimum - 1);
    }

    private NbdClientConnection Next()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);

        var connections = _connections;
        if (connections.Length == 1)
        {
            return connections[0];
        }

        // The connection with the most free request slots, ties going round-robin. A caller that keeps no more
        // requests in flight than all connections have slots (as the copier does) then never waits for a slot: such a
        // wait resumes on the thread pool, a thread wake-up and a context switch per request on a busy copy.
        var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)connections.Length);
        NbdClientConnection? best = null;
        var bestFree = -1;
        for (var i = 0; i < connections.Length; i++)
        {
            var candidate = connections[(start + i) % connections.Length];
            var free = candidate.FreeSlots;
            if (candidate.Failure is null && free > bestFree)
            {
                best = candidate;
                bestFree = free;
            }
        }

        return best ?? connections[start];
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Size || length > Size - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"{Uri}: range {offset}+{length} is outside the export (size {Size})");
        }
    }
}
