using System.CommandLine;
using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Server.Access;
using Engine.Nbd.Server.MetaContexts;
using Engine.Nbd.Transport;
using Engine.Nbd.Transport.Tls;
using Engine.Nbd.Transport.Tls.Psk;
using Engine.Qcow2.Bitmaps;
using Engine.Qcow2.Format;
using Engine.Qcow2.Reading;
using Microsoft.Extensions.Logging;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine serve FILE [--socket PATH | --listen ADDR:PORT] [--max-connections N] [--handshake-timeout SECONDS]
/// [--export NAME] [--export NAME=FILE ...] [--format raw|qcow2] [--bitmap NAME ...] [--read-only] [--description TEXT] [--direct] [--tls off|on|require
/// (--tls-certificates DIR [--tls-verify-peer] | --tls-psk FILE)] [--allow CLIENT ...] [--allow-uid UID ...]</c>: serve files over NBD
/// until SIGINT or SIGTERM. A qcow2 file is served as its guest disk, with <c>qemu:allocation-depth</c> and, for each
/// <c>--bitmap NAME</c>, <c>qemu:dirty-bitmap:NAME</c>, as <c>qemu-nbd -A -B NAME</c>: with <c>--format qcow2</c>
/// writable (unless <c>--read-only</c>) and with its backing file; recognised only by its magic, read-only and
/// refused if it names another file, since a raw disk's guest can write a qcow2 header.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var file = new Argument<string?>("FILE") { Arity = ArgumentArity.ZeroOrOne, Description = "Raw or qcow2 image, or block device, to serve as the default export ('memory:SIZE' for a sparse RAM disk)." };
        var listen = new ServerListenOptions();
        var tls = new ServeTlsOptions();
        var access = new ServeAccessOptions();
        var export = new Option<string[]>("--export", "-e") { Description = "NAME names FILE's export; NAME=FILE adds another export. Repeatable.", AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.ZeroOrMore };
        var bitmaps = new Option<string[]>("--bitmap", "-B") { Description = "Serve the qcow2 FILE's persistent dirty bitmap NAME as meta context qemu:dirty-bitmap:NAME (as qemu-nbd -B NAME). Repeatable.", AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.ZeroOrMore };
        var readOnly = new Option<bool>("--read-only", "-r") { Description = "Refuse writes (EPERM)." };
        var description = new Option<string?>("--description", "-D") { Description = "Export description shown by 'nbdinfo'." };
        var direct = new Option<bool>("--direct") { Description = "Open files with O_DIRECT (bypass the page cache)." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log connections and refused requests to stderr." };
        var format = Qcow2Files.FormatOption("the files served");

        var command = new Command("serve", "Serve files over NBD until SIGINT or SIGTERM.") { file, export, format, bitmaps, readOnly, description, direct, verbose };
        listen.AddTo(command);
        tls.AddTo(command);
        access.AddTo(command);
        command.SetAction((parse, _) =>
        {
            ServerListenSettings listening;
            ServeTlsSettings tlsSettings;
            Dictionary<int, ExportAccess> rules;
            try
            {
                listening = listen.Read(parse);
                tlsSettings = tls.Read(parse);
                rules = access.Read(parse, export);
                CheckAccess(rules, tlsSettings, listening);
            }
            catch (FormatException ex)
            {
                return Task.FromResult(Usage(ex.Message));
            }

            return RunAsync(new ServeSettings(
                parse.GetValue(file),
                listening,
                parse.GetValue(export) ?? [],
                parse.GetValue(format),
                parse.GetValue(bitmaps) ?? [],
                parse.GetValue(readOnly),
                parse.GetValue(description),
                parse.GetValue(direct),
                parse.GetValue(verbose),
                tlsSettings,
                rules));
        });
        return command;
    }

    private static async Task<int> RunAsync(ServeSettings settings)
    {
        var exports = new List<(string Name, string Path, ExportAccess? Access)>();
        string? defaultName = null;
        foreach (var spec in settings.Exports)
        {
            var equals = spec.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                if (defaultName is not null)
                {
                    return Usage($"--export {spec}: FILE's export is already named '{defaultName}'");
                }

                defaultName = spec;
            }
            else
            {
                exports.Add((spec[..equals], spec[(equals + 1)..], settings.Access.GetValueOrDefault(exports.Count)));
            }
        }

        if (settings.File is not null)
        {
            exports.Insert(0, (defaultName ?? string.Empty, settings.File, settings.Access.GetValueOrDefault(ServeAccessOptions.FileExport)));
        }
        else if (defaultName is not null)
        {
            return Usage($"--export {defaultName} names FILE's export, but no FILE was given");
        }

        if (exports.Count == 0)
        {
            return Usage("nothing to serve: give FILE or --export NAME=FILE");
        }

        if (settings.Bitmaps.Length > 0 && settings.File is null)
        {
            return Usage("--bitmap NAME serves a bitmap of the qcow2 FILE, but no FILE was given");
        }

        if (settings.File is null && settings.Access.ContainsKey(ServeAccessOptions.FileExport))
        {
            return Usage("--allow and --allow-uid apply to the export before them: put them after --export NAME=FILE");
        }

        INbdTlsServer? tlsServer;
        try
        {
            tlsServer = LoadTlsServer(settings.Tls);
        }
        catch (FileNotFoundException ex)
        {
            Console.Error.WriteLine($"engine serve: {ex.Message}");
            return ExitCodes.NoInput;
        }
        catch (NbdTlsException ex)
        {
            Console.Error.WriteLine($"engine serve: {ex.Message}");
            // A PSK file that cannot be read is missing input; one that can but is malformed is bad data.
            return ex.InnerException is IOException or UnauthorizedAccessException ? ExitCodes.NoInput : ExitCodes.DataError;
        }

        using var credentials = tlsServer as IDisposable;

        using var signal = new ShutdownSignal();
        using var loggerFactory = LoggerFactory.Create(b => b
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(o => o.SingleLine = true)
            .SetMinimumLevel(settings.Verbose ? LogLevel.Debug : LogLevel.Warning));

        var devices = new List<IBlockDevice>();
        await using var server = new NbdServer(settings.Listening.ServerOptions(loggerFactory, settings.Tls.Mode, tlsServer));
        try
        {
            foreach (var (name, path, rule) in exports)
            {
                IBlockDevice device;
                try
                {
                    device = OpenDevice(path, settings.Format, settings.ReadOnly, settings.Direct, settings.Bitmaps.Length > 0 && ReferenceEquals(path, settings.File));
                }
                catch (Qcow2FormatException ex)
                {
                    Console.Error.WriteLine($"engine serve: {ex.Message}");
                    return ExitCodes.DataError;
                }
                catch (FileNotFoundException ex) when (ex.FileName is { } missing && missing != path)
                {
                    // A file the image names (a backing file): the message names the image and the file.
                    Console.Error.WriteLine($"engine serve: {ex.Message}");
                    return ExitCodes.NoInput;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
                {
                    Console.Error.WriteLine($"engine serve: {path}: {ErrorText.Describe(ex)}");
                    return ExitCodes.NoInput;
                }
                catch (FormatException ex)
                {
                    return Usage($"{path}: {ErrorText.Full(ex)}");
                }
                catch (NotSupportedException ex)
                {
                    return Usage($"{path}: {ex.Message}");
                }

                devices.Add(device);
                var served = new NbdExport(name, device, settings.Description, settings.ReadOnly) { Access = rule };
                var isFile = settings.File is not null && ReferenceEquals(path, settings.File) && devices.Count == 1;
                if (AddQcow2Contexts(served, device, isFile ? settings.Bitmaps : []) is { } failure)
                {
                    return failure;
                }

                server.AddExport(served);
            }

            Func<string, string> uriBase;
            try
            {
                uriBase = settings.Listening.Start(server);
            }
            catch (NbdListenException ex)
            {
                Console.Error.WriteLine($"engine serve: {ErrorText.Full(ex)}");
                return ExitCodes.Unavailable;
            }

            foreach (var (name, _, _) in exports)
            {
                var uri = uriBase(name);
                Console.Out.WriteLine(settings.Tls.Mode == NbdTlsMode.Off ? uri : $"nbds{uri["nbd".Length..]}");
            }

            await Console.Out.FlushAsync().ConfigureAwait(false);
            try
            {
                await Task.Delay(Timeout.Infinite, signal.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // SIGINT or SIGTERM: fall through to a graceful stop.
            }

            await server.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        finally
        {
            await server.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            foreach (var device in devices)
            {
                await device.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The TLS credentials the flags name: PSK keys, X.509 certificates, or none.</summary>
    /// <exception cref="FileNotFoundException">A certificate file is missing (the message names it).</exception>
    /// <exception cref="NbdTlsException">A file cannot be read (inner IOException) or is malformed (the message names file and line).</exception>
    private static INbdTlsServer? LoadTlsServer(ServeTlsSettings tls)
    {
        if (tls.PskFile is { } pskFile)
        {
            return new PskTlsServer(PskKeyFile.Load(pskFile));
        }

        return tls.CertificatesDirectory is { } directory ? X509TlsServer.Load(directory, tls.VerifyPeer) : null;
    }

    /// <exception cref="NotSupportedException">--direct for a qcow2 image, which is read and written through the page cache.</exception>
    private static IBlockDevice OpenDevice(string path, string? format, bool readOnly, bool direct, bool withBitmaps)
    {
        if (path.StartsWith("memory:", StringComparison.Ordinal))
        {
            return new MemoryBlockDevice(Sizes.Parse(path["memory:".Length..]), readOnly);
        }

        if (!Qcow2Files.IsQcow2(path, format))
        {
            return FileBlockDevice.Open(path, new FileBlockDeviceOptions { ReadOnly = readOnly, Direct = direct });
        }

        if (direct)
        {
            // Both qcow2 paths are buffered; serving without O_DIRECT while the user asked for it would be a silent lie.
            throw new NotSupportedException("--direct does not apply to qcow2 images, which Engine reads and writes through the page cache");
        }

        if (format is null)
        {
            // Recognised by its magic alone: it may be a raw disk whose guest wrote a qcow2 header. Read it without
            // following any file it names, and never write through the qcow2 writer, which would rewrite the guest's data.
            if (!readOnly)
            {
                Console.Error.WriteLine($"engine serve: {path}: qcow2 image recognised by its magic, served read-only; pass --format qcow2 to write it");
            }

            return Qcow2Files.OpenReader(path, formatGiven: false);
        }

        // A qcow2 image is served as its guest disk: writable through the qcow2 writer, or read-only through the native
        // reader (with --read-only, and for --bitmap, whose bitmaps the writer would invalidate).
        return readOnly || withBitmaps ? Qcow2Files.OpenReader(path, formatGiven: true) : Qcow2Files.OpenWritable(path);
    }

    /// <summary>
    /// For a qcow2 export, the contexts qemu-nbd offers: <c>qemu:allocation-depth</c>, and <c>qemu:dirty-bitmap:NAME</c>
    /// for each requested bitmap. Returns the exit code when a bitmap cannot be served.
    /// </summary>
    private static int? AddQcow2Contexts(NbdExport export, IBlockDevice device, string[] bitmaps)
    {
        if (device is not Qcow2BlockDevice image)
        {
            return bitmaps.Length == 0 ? null : Usage($"--bitmap {bitmaps[0]}: {export.Name switch { "" => "FILE", var n => n }} is not a qcow2 image, which has no persistent bitmaps");
        }

        export.MetaContexts.Register(new QueryContext(AllocationDepth, image.GetAllocationDepthAsync));
        foreach (var name in bitmaps.Distinct(StringComparer.Ordinal))
        {
            try
            {
                var bitmap = PersistentBitmap.Load(image, name);
                export.MetaContexts.Register(new QueryContext(NbdWire.QemuDirtyBitmapPrefix + name, bitmap.GetExtentsAsync));
            }
            catch (KeyNotFoundException ex)
            {
                Console.Error.WriteLine($"engine serve: {ex.Message}");
                return ExitCodes.NoInput;
            }
            catch (Qcow2FormatException ex)
            {
                Console.Error.WriteLine($"engine serve: {ex.Message}");
                return ExitCodes.DataError;
            }
        }

        return null;
    }

    /// <summary>qemu's context of how deep in the backing chain each range is allocated (0 nowhere, 1 the image itself…).</summary>
    private const string AllocationDepth = "qemu:allocation-depth";

    /// <summary>A meta context answered by an extent query of the device (allocation depth, a persistent bitmap).</summary>
    private sealed class QueryContext(string name, ExtentQuery query) : IMetaContext
    {
        public string Name => name;

        public ValueTask<long> GetExtentsAsync(long offset, long length, ExtentList extents, CancellationToken cancellationToken) =>
            query(offset, length, extents, cancellationToken);
    }

    /// <summary>Refuses access rules that could never match: names without TLS, uids without a Unix socket.</summary>
    /// <exception cref="FormatException">The rules and the listening or TLS flags contradict each other.</exception>
    private static void CheckAccess(Dictionary<int, ExportAccess> rules, ServeTlsSettings tls, ServerListenSettings listening)
    {
        if (tls.Mode == NbdTlsMode.Off && rules.Values.Any(r => r.Clients.Count > 0))
        {
            throw new FormatException("--allow names TLS clients (certificate subject or CN, PSK user); without --tls on or --tls require it can never match");
        }

        if (listening.SocketPath is null && rules.Values.Any(r => r.Uids.Count > 0))
        {
            throw new FormatException("--allow-uid checks the peer of a Unix socket; it needs --socket PATH");
        }
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"engine serve: {message}");
        return ExitCodes.Usage;
    }

    private sealed record ServeSettings(string? File, ServerListenSettings Listening, string[] Exports, string? Format, string[] Bitmaps, bool ReadOnly, string? Description, bool Direct, bool Verbose, ServeTlsSettings Tls, Dictionary<int, ExportAccess> Access);
}
