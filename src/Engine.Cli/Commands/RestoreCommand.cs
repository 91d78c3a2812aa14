using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Engine.Backup;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Restore;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine restore --repo DIR --snapshot ID --disk NAME --to PATH [--format raw|qcow2] [--progress] [--json]</c>:
/// writes one disk of a snapshot to a sparse raw file or a qcow2 image (or onto a block device, raw).
/// </summary>
internal static class RestoreCommand
{
    public static Command Create()
    {
        var repo = RepositoryCommandSupport.RepoOption();
        var snapshot = new Option<string>("--snapshot") { Description = "Snapshot id, as 'engine snapshots' lists it (vm/ID/TIME).", Required = true };
        var disk = new Option<string>("--disk") { Description = "Device name in the snapshot, such as drive-scsi0.", Required = true };
        var to = new Option<string>("--to") { Description = "Target: a new raw file (written atomically, mode 0600) or a block device.", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace the target if it is an existing regular file." };
        var progress = new Option<bool>("--progress", "-p") { Description = "Show progress on stderr (default when stderr is a terminal)." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var format = new Option<string>("--format", "-f") { Description = "Format of a file target: raw (sparse) or qcow2 (zeroes unallocated).", DefaultValueFactory = _ => "raw" };
        format.AcceptOnlyFromAmong(Qcow2Files.OutputFormats);
        var command = new Command("restore", "Write a disk of a snapshot to a sparse raw file, a qcow2 image or a block device.") { repo, snapshot, disk, to, force, progress, json, format };
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(repo)!, parse.GetValue(snapshot)!, parse.GetValue(disk)!, parse.GetValue(to)!,
            parse.GetValue(force), parse.GetValue(progress) || !Console.IsErrorRedirected, parse.GetValue(json), parse.GetValue(format) == "qcow2", cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string repoPath, string snapshotText, string disk, string target, bool force, bool showProgress, bool json,
        bool qcow2, CancellationToken cancellationToken)
    {
        if (RepositoryCommandSupport.UsageProblem(repoPath) is { } problem)
        {
            Console.Error.WriteLine($"engine restore: {problem}");
            return ExitCodes.Usage;
        }

        using var termination = new TerminationSignal(TerminationSignal.UnwindGrace, cancellationToken);
        try
        {
            var id = SnapshotId.Parse(snapshotText);
            using var repository = await RepositoryCommandSupport.OpenAsync(repoPath, create: false, cancellationToken).ConfigureAwait(false);
            var index = SnapshotRestorer.OpenIndex(repository, id, disk);
            using var reporter = showProgress ? new ProgressReporter(index.Size) : null;
            var clock = Stopwatch.StartNew();
            var result = await SnapshotRestorer.RestoreAsync(repository, id, disk, target, force, qcow2 ? Qcow2Files.CreateOn : null, reporter, termination.Token).ConfigureAwait(false);
            reporter?.Finish();
            var seconds = clock.Elapsed.TotalSeconds;
            if (json)
            {
                using var stream = Console.OpenStandardOutput();
                using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
                {
                    writer.WriteStartObject();
                    writer.WriteString("snapshot", id.ToString());
                    writer.WriteString("disk", disk);
                    writer.WriteString("target", target);
                    writer.WriteNumber("bytes", result.Bytes);
                    writer.WriteNumber("data_bytes", result.DataBytes);
                    writer.WriteNumber("zero_bytes", result.ZeroBytes);
                    writer.WriteNumber("seconds", seconds);
                    writer.WriteEndObject();
                }

                stream.WriteByte((byte)'\n');
            }
            else
            {
                Console.Out.WriteLine($"restored {disk} of {id} to {target}: {Sizes.Format(result.Bytes)} ({Sizes.Format(result.DataBytes)} data) in {seconds:0.00} s");
            }

            return ExitCodes.Ok;
        }
        catch (OperationCanceledException) when (termination.Stopped)
        {
            var state = SnapshotRestorer.WritesInPlace(target)
                ? $"the block device {target} holds part of the disk"
                : $"{target} was not written (the partial file is removed)";
            Console.Error.WriteLine($"engine restore: stopped by {termination.SignalName}; {state}");
            return termination.ExitCode;
        }
        catch (Exception ex) when (ex is RepositoryNotFoundException or SnapshotNotFoundException or DeviceNotFoundException)
        {
            Console.Error.WriteLine($"engine restore: {RepositoryCommandSupport.NotFoundText(ex, repoPath)}");
            return ExitCodes.NoInput;
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"engine restore: --snapshot {snapshotText}: {ErrorText.Full(ex)}");
            return ExitCodes.Usage;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException or RepositoryException)
        {
            Console.Error.WriteLine($"engine restore: {ErrorText.Full(ex)}");
            return ExitCodes.Failure;
        }
    }
}
