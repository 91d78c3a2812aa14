using System.CommandLine;
using Engine.Nbd.Server;
using Engine.Nbd.Transport;
using Engine.Ova;
using Engine.Ova.Import;
using Engine.Ova.Serving;
using Microsoft.Extensions.Logging;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine ova serve FILE.ova [--disk NAME] [--socket PATH | --listen ADDR:PORT] [--max-connections N]
/// [--handshake-timeout SECONDS] [--export NAME]</c>: serves an
/// OVA's inner raw disk, or a monolithicFlat VMDK's flat extent, read-only over NBD straight from the archive, like
/// <c>nbdkit --filter=tar</c>; runs until SIGINT or SIGTERM.
/// </summary>
internal static class OvaServeCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "The .ova archive." };
        var disk = new Option<string?>("--disk", "-d") { Description = "Disk to serve: drive key (scsi0), file name or disk id (default: the first)." };
        var listen = new ServerListenOptions();
        var export = new Option<string>("--export", "-e") { Description = "Export name.", DefaultValueFactory = _ => string.Empty };
        var command = new Command("serve", "Serve an OVA's inner raw or flat disk read-only over NBD, without extracting it.") { file, disk, export };
        listen.AddTo(command);
        command.SetAction((parse, _) =>
        {
            try
            {
                return RunAsync(parse.GetValue(file)!, parse.GetValue(disk), listen.Read(parse), parse.GetValue(export)!);
            }
            catch (FormatException ex)
            {
                Console.Error.WriteLine($"engine ova serve: {ErrorText.Full(ex)}");
                return Task.FromResult(ExitCodes.Usage);
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(string path, string? disk, ServerListenSettings listening, string exportName)
    {
        InnerDiskLocation location;
        try
        {
            using var archive = OvaCommand.OpenArchive(path);
            if (!archive.CanSeek)
            {
                throw new OvaFormatException($"{path}: serving needs a seekable archive, not a pipe");
            }

            location = InnerDiskLocator.Locate(OvaPackage.Scan(archive, path), archive, disk);
        }
        catch (Exception e) when (e is OvaFormatException or NotSupportedException or IOException or UnauthorizedAccessException)
        {
            return OvaCommand.Fail("serve", e);
        }

        using var signal = new ShutdownSignal();
        using var loggerFactory = LoggerFactory.Create(b => b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning));
        await using var device = ArchiveRangeDevice.Open(path, location.Offset, location.Length, $"{path}:{location.Address}");
        await using var server = new NbdServer(listening.ServerOptions(loggerFactory));
        server.AddExport(new NbdExport(exportName, device, $"{location.Address}: {location.Description}", readOnly: true));
        string uri;
        try
        {
            uri = listening.Start(server)(exportName);
        }
        catch (NbdListenException e)
        {
            Console.Error.WriteLine($"engine ova serve: {ErrorText.Full(e)}");
            return ExitCodes.Unavailable;
        }

        Console.Out.WriteLine(uri);
        await Console.Out.FlushAsync().ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.Infinite, signal.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // SIGINT or SIGTERM: stop gracefully.
        }

        await server.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        return ExitCodes.Ok;
    }
}
