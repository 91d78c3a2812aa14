using System.CommandLine;
using System.Text.Json;
using Engine.Backup;
using Engine.Backup.Containers.Archive;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine backup-ct --repo DIR --vmid ID --dir PATH [--source ./mp/x]... [--exclude PAT]... [--config FILE]
/// [--firewall FILE] [--bwlimit BYTES_PER_S] [--workers N] [--full-read] [--json] [--progress]</c>: one container's
/// directory tree into a snapshot. Files unchanged since the container's previous snapshot (same inode, ctime, mtime,
/// size, mode and owner) are not read; <c>--full-read</c> reads them all.
/// </summary>
internal static class BackupCtCommand
{
    public static Command Create()
    {
        var repo = new Option<string>("--repo") { Description = RepositoryCommandSupport.RepoDescription + " A directory is created when missing.", Required = true };
        var vmid = new Option<string>("--vmid") { Description = "Container id (digits).", Required = true };
        var dir = new Option<string>("--dir") { Description = "The container's root directory (a snapshot of it).", Required = true };
        var sources = new Option<string[]>("--source") { Description = "A part to archive relative to --dir: '.' or a mount point such as ./mp/data. Repeatable; default '.'.", Arity = ArgumentArity.OneOrMore };
        var excludes = new Option<string[]>("--exclude") { Description = "vzdump exclude pattern (/tmp/?* anchored, *.log anywhere, cache/ directories only). Repeatable.", Arity = ArgumentArity.OneOrMore };
        var config = new Option<string?>("--config") { Description = "Container configuration file, stored verbatim." };
        var firewall = new Option<string?>("--firewall") { Description = "Firewall configuration file, stored verbatim." };
        var bwlimit = new Option<string?>("--bwlimit") { Description = "Read limit in bytes per second (K, M, G suffixes)." };
        var workers = new Option<int>("--workers") { Description = "Chunks compressed and stored at once (default: four per processor)." };
        var fullRead = new Option<bool>("--full-read") { Description = "Read every file, even those unchanged since the container's previous snapshot (by inode, ctime, mtime, size, mode, owner)." };
        var json = new Option<bool>("--json") { Description = "Print the snapshot id and statistics as JSON." };
        var progress = new Option<bool>("--progress", "-p") { Description = "Show progress on stderr (default when stderr is a terminal)." };
        var command = new Command("backup-ct", "Back up a container's directory tree (files, owners, modes, xattrs, ACLs) into a repository snapshot.")
        {
            repo, vmid, dir, sources, excludes, config, firewall, bwlimit, workers, fullRead, json, progress,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(
            parse.GetValue(repo)!, parse.GetValue(vmid)!, parse.GetValue(dir)!, parse.GetValue(sources) ?? [], parse.GetValue(excludes) ?? [],
            parse.GetValue(config), parse.GetValue(firewall), parse.GetValue(bwlimit), parse.GetValue(workers), parse.GetValue(fullRead), parse.GetValue(json),
            parse.GetValue(progress) || !Console.IsErrorRedirected, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string repoPath, string vmid, string directory, string[] sources, string[] excludes, string? configPath,
        string? firewallPath, string? bwlimitText, int workers, bool fullRead, bool json, bool showProgress, CancellationToken cancellationToken)
    {
        if (RepositoryCommandSupport.UsageProblem(repoPath) is { } problem)
        {
            Console.Error.WriteLine($"engine backup-ct: {problem}");
            return ExitCodes.Usage;
        }

        if (!SnapshotId.IsValidVmid(vmid))
        {
            Console.Error.WriteLine($"engine backup-ct: --vmid {vmid}: expected the container's number");
            return ExitCodes.Usage;
        }

        if (workers < 0)
        {
            Console.Error.WriteLine("engine backup-ct: --workers must be 0 (automatic) or more");
            return ExitCodes.Usage;
        }

        if (!Directory.Exists(directory))
        {
            Console.Error.WriteLine($"engine backup-ct: --dir {directory}: no such directory");
            return ExitCodes.NoInput;
        }

        try
        {
            var bandwidth = bwlimitText is null ? 0 : Sizes.Parse(bwlimitText);
            var guestConfig = configPath is null ? null : await File.ReadAllTextAsync(configPath, cancellationToken).ConfigureAwait(false);
            var firewallConfig = firewallPath is null ? null : await File.ReadAllTextAsync(firewallPath, cancellationToken).ConfigureAwait(false);
            using var repository = await RepositoryCommandSupport.OpenAsync(repoPath, create: true, cancellationToken).ConfigureAwait(false);
            var manifest = await ContainerBackupEngine.BackupAsync(repository, new ContainerBackupRequest
            {
                Vmid = vmid,
                Directory = directory,
                Sources = sources.Length == 0 ? ["."] : sources,
                ExcludePatterns = excludes,
                GuestConfig = guestConfig,
                FirewallConfig = firewallConfig,
                BandwidthLimit = bandwidth,
                Parallelism = workers,
                FullRead = fullRead,
            }, showProgress ? new StderrProgress() : null, cancellationToken).ConfigureAwait(false);
            if (showProgress)
            {
                Console.Error.WriteLine();
            }

            Print(manifest, json);
            return ExitCodes.Ok;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            Console.Error.WriteLine($"engine backup-ct: {ErrorText.Full(ex)}");
            return ExitCodes.NoInput;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            Console.Error.WriteLine($"engine backup-ct: {ErrorText.Full(ex)}");
            return ExitCodes.Usage;
        }
        catch (RepositoryNotFoundException ex)
        {
            Console.Error.WriteLine($"engine backup-ct: {RepositoryCommandSupport.NotFoundText(ex, repoPath)}");
            return ExitCodes.NoInput;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or RepositoryException)
        {
            Console.Error.WriteLine($"engine backup-ct: {ErrorText.Full(ex)}; no snapshot was made");
            return ExitCodes.Failure;
        }
    }

    private static void Print(SnapshotManifest manifest, bool json)
    {
        var stats = manifest.Stats;
        var archive = manifest.Archive!;
        if (!json)
        {
            Console.Out.WriteLine($"snapshot {manifest.Id}: {archive.Entries} entries ({archive.Files} files, {Sizes.Format(archive.Bytes)}), read {Sizes.Format(stats.BytesRead)}, " +
                $"reused {Sizes.Format(stats.BytesReused)}, stored {Sizes.Format(stats.BytesStored)} ({Sizes.Format(stats.BytesNew)} new) in {stats.DurationSeconds:0.00} s");
            return;
        }

        using var stream = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("snapshot", manifest.Id.ToString());
            writer.WriteNumber("entries", archive.Entries);
            writer.WriteNumber("files", archive.Files);
            writer.WriteNumber("file_bytes", archive.Bytes);
            writer.WriteNumber("bytes_read", stats.BytesRead);
            writer.WriteNumber("bytes_reused", stats.BytesReused);
            writer.WriteNumber("bytes_stored", stats.BytesStored);
            writer.WriteNumber("bytes_new", stats.BytesNew);
            writer.WriteNumber("chunks_new", stats.ChunksNew);
            writer.WriteNumber("chunks_reused", stats.ChunksReused);
            writer.WriteNumber("zero_chunks", stats.ZeroChunks);
            writer.WriteNumber("seconds", stats.DurationSeconds);
            writer.WriteString("reference", manifest.Extra.TryGetValue("ct.reference", out var reference) ? reference : null);
            writer.WriteEndObject();
        }

        stream.WriteByte((byte)'\n');
    }

    /// <summary>One line on stderr, redrawn: entries so far, bytes read and stored, rate.</summary>
    private sealed class StderrProgress : IProgress<ContainerBackupProgress>
    {
        public void Report(ContainerBackupProgress value)
        {
            var rate = value.Elapsed.TotalSeconds > 0 ? (long)(value.BytesRead / value.Elapsed.TotalSeconds) : 0;
            Console.Error.Write($"\r{value.Entries} entries, read {Sizes.Format(value.BytesRead)}, stored {Sizes.Format(value.BytesStored)}, {Sizes.Format(rate)}/s   ");
        }
    }
}
