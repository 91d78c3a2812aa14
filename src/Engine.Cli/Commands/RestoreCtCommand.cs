using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Engine.Backup.Containers.Archive;
using Engine.Backup.Containers.Restore;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine restore-ct --repo DIR --snapshot ID --to DIR [--json]</c>: recreates a container snapshot's files in a
/// directory (owners, modes, xattrs, ACLs, device nodes, sparse files, nanosecond mtimes).
/// </summary>
internal static class RestoreCtCommand
{
    public static Command Create()
    {
        var repo = RepositoryCommandSupport.RepoOption();
        var snapshot = new Option<string>("--snapshot") { Description = "Snapshot id, as 'engine snapshots' lists it (ct/ID/TIME).", Required = true };
        var to = new Option<string>("--to") { Description = "Target directory (created when missing; usually empty).", Required = true };
        var json = RepositoryCommandSupport.JsonOption();
        var command = new Command("restore-ct", "Recreate a container snapshot's directory tree.") { repo, snapshot, to, json };
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(repo)!, parse.GetValue(snapshot)!, parse.GetValue(to)!, parse.GetValue(json), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string repoPath, string snapshotText, string target, bool json, CancellationToken cancellationToken)
    {
        if (!SnapshotId.TryParse(snapshotText, out var id))
        {
            Console.Error.WriteLine($"engine restore-ct: --snapshot '{snapshotText}' is not a snapshot id (expected ct/VMID/TIME)");
            return ExitCodes.Usage;
        }

        return await RepositoryCommandSupport.WithRepositoryAsync("restore-ct", repoPath, async repository =>
        {
            var clock = Stopwatch.StartNew();
            ContainerRestoreSummary summary;
            try
            {
                await using var archive = ContainerArchive.Open(repository, id);
                summary = await ContainerDirectoryRestorer.RestoreAsync(archive, target, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                Console.Error.WriteLine($"engine restore-ct: {ErrorText.Full(e)}");
                return ExitCodes.Failure;
            }

            var seconds = clock.Elapsed.TotalSeconds;
            if (!json)
            {
                Console.Out.WriteLine($"restored {id} to {target}: {summary.Entries} entries, {summary.Files} files, {Sizes.Format(summary.BytesWritten)} written in {seconds:0.00} s" +
                    (summary.XattrsSkipped > 0 ? $"; {summary.XattrsSkipped} xattrs not supported by the target filesystem were left out" : ""));
                return ExitCodes.Ok;
            }

            using var stream = Console.OpenStandardOutput();
            using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                writer.WriteStartObject();
                writer.WriteString("snapshot", id.ToString());
                writer.WriteString("target", target);
                writer.WriteNumber("entries", summary.Entries);
                writer.WriteNumber("files", summary.Files);
                writer.WriteNumber("bytes_written", summary.BytesWritten);
                writer.WriteNumber("xattrs_skipped", summary.XattrsSkipped);
                writer.WriteNumber("seconds", seconds);
                writer.WriteEndObject();
            }

            stream.WriteByte((byte)'\n');
            return ExitCodes.Ok;
        }, cancellationToken).ConfigureAwait(false);
    }
}
