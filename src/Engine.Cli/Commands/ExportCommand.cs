using System.CommandLine;
using Engine.Backup;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Restore;
using Engine.Nbd.Transport;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine export --repo DIR --snapshot ID [--socket PATH] [--fuse DIR] [--max-connections N]
/// [--handshake-timeout SECONDS]</c>: serves a snapshot's disks read-only over NBD (export name = device name) and,
/// with <c>--fuse</c>, as local raw files that <c>qemu-img</c> reads, until SIGINT or SIGTERM. Prints one line per disk: the URI, then the file when mounted.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var repo = RepositoryCommandSupport.RepoOption();
        var snapshot = new Option<string>("--snapshot") { Description = "Snapshot id (vm/ID/TIME).", Required = true };
        var socket = new Option<string?>("--socket", "-k") { Description = "Unix socket to serve on (default: a private one in a temporary directory)." };
        var fuse = new Option<string?>("--fuse") { Description = "Also mount each disk as DIR/DEVICE/disk.raw (a FUSE file that answers SEEK_DATA/SEEK_HOLE)." };
        var limits = new ServerLimitOptions();
        var command = new Command("export", "Serve a snapshot's disks read-only over NBD and optionally as FUSE files.") { repo, snapshot, socket, fuse };
        limits.AddTo(command);
        command.SetAction((parse, _) =>
        {
            try
            {
                return RunAsync(parse.GetValue(repo)!, parse.GetValue(snapshot)!, parse.GetValue(socket), parse.GetValue(fuse), limits.Read(parse));
            }
            catch (FormatException ex)
            {
                Console.Error.WriteLine($"engine export: {ErrorText.Full(ex)}");
                return Task.FromResult(ExitCodes.Usage);
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(string repoPath, string snapshotText, string? socketPath, string? fuseDirectory, ServerLimits limits)
    {
        if (RepositoryCommandSupport.UsageProblem(repoPath) is { } problem)
        {
            Console.Error.WriteLine($"engine export: {problem}");
            return ExitCodes.Usage;
        }

        using var signal = new ShutdownSignal();
        string? privateDirectory = null;
        try
        {
            if (!Engine.Backup.S3.S3RepositoryLocation.IsS3(repoPath) && !Directory.Exists(repoPath))
            {
                Console.Error.WriteLine($"engine export: {repoPath}: no such repository");
                return ExitCodes.NoInput;
            }

            var id = SnapshotId.Parse(snapshotText);
            if (socketPath is null)
            {
                privateDirectory = Directory.CreateTempSubdirectory("engine-export-").FullName;
                socketPath = Path.Combine(privateDirectory, "nbd.sock");
            }

            using var repository = await RepositoryCommandSupport.OpenAsync(repoPath, create: true, CancellationToken.None).ConfigureAwait(false);
            await using var export = await SnapshotExport.StartAsync(repository, id, socketPath, fuseDirectory, serverOptions: limits.ServerOptions(null), cancellationToken: signal.Token).ConfigureAwait(false);
            foreach (var (device, uri) in export.Uris)
            {
                Console.Out.WriteLine(export.Files.TryGetValue(device, out var file) ? $"{device}\t{uri}\t{file}" : $"{device}\t{uri}");
            }

            await Console.Out.FlushAsync().ConfigureAwait(false);
            try
            {
                await Task.Delay(Timeout.Infinite, signal.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // SIGINT or SIGTERM: unmount and stop.
            }

            return ExitCodes.Ok;
        }
        catch (SnapshotNotFoundException ex)
        {
            Console.Error.WriteLine($"engine export: {ErrorText.Full(ex)}");
            return ExitCodes.NoInput;
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"engine export: --snapshot {snapshotText}: {ErrorText.Full(ex)}");
            return ExitCodes.Usage;
        }
        catch (NbdListenException ex)
        {
            Console.Error.WriteLine($"engine export: {ErrorText.Full(ex)}");
            return ExitCodes.Unavailable;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or RepositoryException)
        {
            Console.Error.WriteLine($"engine export: {ErrorText.Full(ex)}");
            return ExitCodes.Failure;
        }
        finally
        {
            if (privateDirectory is not null)
            {
                Directory.Delete(privateDirectory, recursive: true);
            }
        }
    }
}
