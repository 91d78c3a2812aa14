using System.CommandLine;
using System.Diagnostics;
using Engine.Blocks;
using Engine.Blocks.Copying;
using Engine.Blocks.Devices;
using Engine.Cli.Json;
using Engine.Nbd.Client;
using Engine.Qcow2.Format;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine copy SRC DST [--connections N] [--requests N] [--request-size BYTES] [--allocated] [--progress] [--json]
/// [--connect-timeout SECONDS] [--format raw|qcow2] [--dst-format raw|qcow2]</c>:
/// a sparse-aware, byte-exact copy between NBD exports, local files or block devices, and <c>null:</c>. A file target
/// named <c>*.qcow2</c> (or with <c>--dst-format qcow2</c>) becomes a qcow2 image whose zeroes stay unallocated.
/// </summary>
internal static class CopyCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("SRC") { Description = "NBD URI, file (a qcow2 image is read as its guest disk) or block device." };
        var target = new Argument<string>("DST") { Description = "NBD URI, file (a .qcow2 name writes qcow2) or block device, or null: to discard." };
        var connections = new Option<int>("--connections", "-C") { Description = "NBD connections per side (default: up to 4, one per core, with multi-conn; else 1)." };
        var requests = new Option<int>("--requests", "-R") { Description = "Requests in flight per connection.", DefaultValueFactory = _ => 16 };
        // 1 MiB x 16 per connection: as many bytes in flight as nbdcopy's 256 KiB x 64 in a quarter of the
        // requests, and the per-request cost is what a copy at memory speed is made of.
        var requestSize = new Option<string>("--request-size") { Description = "Bytes per request (e.g. 256K, 1M).", DefaultValueFactory = _ => "1M" };
        var allocated = new Option<bool>("--allocated") { Description = "Write zeroes instead of leaving holes in the target." };
        var progress = new Option<bool>("--progress", "-p") { Description = "Show progress on stderr." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var flush = new Option<bool>("--flush") { Description = "Flush the target at the end, so the copy is durable when engine exits." };
        var dirtyBitmap = new Option<string?>("--dirty-bitmap") { Description = "Copy only the extents that NBD meta context qemu:dirty-bitmap:NAME marks dirty (an incremental backup read)." };
        var connectTimeout = Endpoints.ConnectTimeoutOption();
        var dstFormat = new Option<string?>("--dst-format", "-O") { Description = "Format of a file target: raw or qcow2 (default: qcow2 for a name ending in .qcow2, else raw)." };
        dstFormat.AcceptOnlyFromAmong(Qcow2Files.OutputFormats);
        var format = Qcow2Files.FormatOption("a file source");
        var command = new Command("copy", "Copy between NBD exports, files, block devices and null:, skipping holes.") { source, target, connections, requests, requestSize, allocated, progress, json, flush, dirtyBitmap, connectTimeout, format, dstFormat };
        command.SetAction((parse, cancellationToken) => RunAsync(
            parse.GetValue(source)!,
            parse.GetValue(target)!,
            parse.GetValue(connections),
            parse.GetValue(requests),
            parse.GetValue(requestSize)!,
            parse.GetValue(allocated),
            parse.GetValue(progress),
            parse.GetValue(json),
            parse.GetValue(flush),
            parse.GetValue(dirtyBitmap),
            parse.GetValue(connectTimeout),
            parse.GetValue(format),
            parse.GetValue(dstFormat),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string sourceSpec, string targetSpec, int connections, int requests, string requestSizeText, bool allocated, bool showProgress, bool json, bool flush, string? dirtyBitmap, double connectSeconds, string? format, string? dstFormat, CancellationToken cancellationToken)
    {
        int requestSize;
        TimeSpan connectTimeout;
        try
        {
            connectTimeout = Endpoints.ConnectTimeout(connectSeconds);
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"engine copy: {ErrorText.Full(ex)}");
            return ExitCodes.Usage;
        }
        catch (Qcow2FormatException ex)
        {
            Console.Error.WriteLine($"engine copy: {ErrorText.Full(ex)}");
            return ExitCodes.DataError;
        }

        try
        {
            requestSize = checked((int)Sizes.Parse(requestSizeText));
        }
        catch (Exception ex) when (ex is FormatException or OverflowException)
        {
            Console.Error.WriteLine($"engine copy: --request-size {requestSizeText}: {ErrorText.Full(ex)}");
            return ExitCodes.Usage;
        }

        if (requests < 1 || connections < 0 || requestSize < 512 || requestSize > 32 << 20)
        {
            Console.Error.WriteLine("engine copy: --requests must be >= 1, --connections >= 0, --request-size between 512 and 32M");
            return ExitCodes.Usage;
        }

        var qcow2Target = Qcow2Files.IsQcow2Target(targetSpec, dstFormat) && targetSpec != Endpoints.Null && !NbdUri.IsNbdUri(targetSpec);
        if (dstFormat == "qcow2" && !qcow2Target)
        {
            Console.Error.WriteLine($"engine copy: --dst-format qcow2 needs a file target, not {targetSpec}");
            return ExitCodes.Usage;
        }

        if (format is not null && (sourceSpec == Endpoints.Null || NbdUri.IsNbdUri(sourceSpec)))
        {
            Console.Error.WriteLine($"engine copy: --format {format} names the format of a file source, not {sourceSpec}");
            return ExitCodes.Usage;
        }

        var dirtyContext = dirtyBitmap is null ? null : $"qemu:dirty-bitmap:{dirtyBitmap}";
        // The copier's continuations only issue the next request and never block on a reply, so they may run inline.
        var nbdOptions = new NbdClientOptions { Connections = connections, RequestsInFlight = requests, MetaContexts = dirtyContext is null ? [] : [dirtyContext], InlineCompletions = true, ConnectTimeout = connectTimeout };
        IBlockDevice? source = null;
        IBlockDevice? target = null;

        // A qcow2 target is written under this name beside the target and renamed over it once complete.
        string? temporary = null;

        // Which side is being opened, so that a file error names it.
        var opening = sourceSpec;
        try
        {
            source = await Endpoints.OpenSourceAsync("copy", sourceSpec, nbdOptions, cancellationToken, format).ConfigureAwait(false);
            opening = targetSpec;
            var (device, zeroed) = qcow2Target
                ? (Qcow2Files.CreateTarget(targetSpec, source.Size, out temporary), true)
                : await Endpoints.OpenTargetAsync("copy", targetSpec, source.Size, nbdOptions, cancellationToken).ConfigureAwait(false);
            target = device;
            opening = null;
            var lanes = Math.Max(ConnectionsOf(source), ConnectionsOf(target)) * requests;
            ExtentQuery? selection = null;
            if (dirtyContext is not null)
            {
                if (source is not NbdClient client || !client.Export.MetaContexts.ContainsKey(dirtyContext))
                {
                    Console.Error.WriteLine($"engine copy: {sourceSpec} does not offer meta context {dirtyContext}");
                    return ExitCodes.Failure;
                }

                selection = (offset, length, extents, token) => client.GetExtentsAsync(dirtyContext, offset, length, extents, token);
            }

            using var reporter = showProgress ? new ProgressReporter(source.Size) : null;
            var clock = Stopwatch.StartNew();
            var result = await BlockCopier.CopyAsync(source, target, new BlockCopyOptions
            {
                RequestSize = requestSize,
                RequestsInFlight = lanes,
                Allocated = allocated,
                TargetIsZeroed = zeroed,

                // Scanning for zeroes costs a pass over every byte; it only pays when it saves a real write.
                DetectZeroes = target is not NullBlockDevice,
                Progress = reporter,
                Selection = selection,
                FlushTarget = flush,
            }, cancellationToken).ConfigureAwait(false);
            clock.Stop();
            if (temporary is not null)
            {
                // Durable before it replaces whatever was at the target, so a crash leaves the old file or the new one.
                await target.FlushAsync(cancellationToken).ConfigureAwait(false);
                await target.DisposeAsync().ConfigureAwait(false);
                target = null;
                Qcow2Files.MoveIntoPlace(temporary, targetSpec);
                temporary = null;
            }

            reporter?.Finish();
            var seconds = clock.Elapsed.TotalSeconds;
            if (json)
            {
                JsonOutput.Write(
                    new CopyReport(sourceSpec, targetSpec, result.Bytes, result.DataBytes, result.ZeroBytes, seconds, result.Bytes / Math.Max(seconds, 1e-9)),
                    CliJsonContext.Default.CopyReport);
            }
            else if (showProgress)
            {
                Console.Error.WriteLine($"copied {Sizes.Format(result.Bytes)} ({Sizes.Format(result.DataBytes)} data, {Sizes.Format(result.ZeroBytes)} zero) in {seconds:0.00} s, {Sizes.Format((long)(result.Bytes / Math.Max(seconds, 1e-9)))}/s");
            }

            return ExitCodes.Ok;
        }
        catch (NbdConnectException ex)
        {
            Console.Error.WriteLine($"engine copy: {ErrorText.Full(ex)}");
            return ExitCodes.Unavailable;
        }
        catch (Exception ex) when (opening is not null && ex is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"engine copy: {opening}: {ErrorText.Describe(ex)}");
            return opening == sourceSpec && ex is not UnauthorizedAccessException ? ExitCodes.NoInput : ExitCodes.Failure;
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"engine copy: {ErrorText.Full(ex)}");
            return ExitCodes.Usage;
        }
        catch (Qcow2FormatException ex)
        {
            Console.Error.WriteLine($"engine copy: {ErrorText.Full(ex)}");
            return ExitCodes.DataError;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"engine copy: {ErrorText.Describe(ex)}");
            return ExitCodes.Failure;
        }
        finally
        {
            if (target is not null)
            {
                await target.DisposeAsync().ConfigureAwait(false);
            }

            if (source is not null)
            {
                await source.DisposeAsync().ConfigureAwait(false);
            }

            if (temporary is not null)
            {
                // The copy failed: the target, if there was one, is untouched; drop the partial image.
                File.Delete(temporary);
            }
        }
    }

    private static int ConnectionsOf(IBlockDevice device) => device is NbdClient client ? client.ConnectionCount : 1;
}
