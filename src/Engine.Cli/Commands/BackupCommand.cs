using System.CommandLine;
using System.Text.Json;
using Engine.Backup;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.VmBackup;
using Engine.Nbd.Client;
using Engine.Sources;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine backup --repo DIR --vmid ID --disk NAME=SOURCE ... [--config FILE] [--firewall FILE]
/// [--bwlimit BYTES_PER_S] [--discard-source] [--json] [--progress]</c>: one VM backup into a snapshot.
/// </summary>
internal static class BackupCommand
{
    public static Command Create()
    {
        var repo = new Option<string>("--repo") { Description = RepositoryCommandSupport.RepoDescription + " A directory is created when missing.", Required = true };
        var vmid = new Option<string>("--vmid") { Description = "Guest id (digits).", Required = true };
        var disks = new Option<string[]>("--disk") { Description = "NAME=SOURCE: an NBD URI (optionally #bitmap=NAME) or a file (optionally #dirty-map=FILE). Repeatable.", Required = true, Arity = ArgumentArity.OneOrMore };
        var config = new Option<string?>("--config") { Description = "Guest configuration file, stored verbatim." };
        var firewall = new Option<string?>("--firewall") { Description = "Firewall configuration file, stored verbatim." };
        var bwlimit = new Option<string?>("--bwlimit") { Description = "Source read limit in bytes per second (K, M, G suffixes)." };
        var workers = new Option<int>("--workers") { Description = "Chunks read, hashed and stored at once (default: twice the processor count)." };
        var discard = new Option<bool>("--discard-source") { Description = "Discard each range at the source once it is durable (PVE's fleecing images)." };
        var json = new Option<bool>("--json") { Description = "Print the snapshot id and statistics as JSON." };
        var progress = new Option<bool>("--progress", "-p") { Description = "Show progress on stderr (default when stderr is a terminal)." };
        var command = new Command("backup", "Back up a VM's disks into a repository snapshot; incremental where a bitmap allows.")
        {
            repo, vmid, disks, config, firewall, bwlimit, workers, discard, json, progress,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(
            parse.GetValue(repo)!, parse.GetValue(vmid)!, parse.GetValue(disks) ?? [], parse.GetValue(config), parse.GetValue(firewall),
            parse.GetValue(bwlimit), parse.GetValue(workers), parse.GetValue(discard), parse.GetValue(json), parse.GetValue(progress) || !Console.IsErrorRedirected, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string repoPath, string vmid, string[] diskSpecs, string? configPath, string? firewallPath, string? bwlimitText,
        int workers, bool discard, bool json, bool showProgress, CancellationToken cancellationToken)
    {
        if (RepositoryCommandSupport.UsageProblem(repoPath) is { } problem)
        {
            Console.Error.WriteLine($"engine backup: {problem}");
            return ExitCodes.Usage;
        }

        if (workers < 0)
        {
            Console.Error.WriteLine("engine backup: --workers must be 0 (automatic) or more");
            return ExitCodes.Usage;
        }

        if (!SnapshotId.IsValidVmid(vmid))
        {
            Console.Error.WriteLine($"engine backup: --vmid {vmid}: expected the guest's number");
            return ExitCodes.Usage;
        }

        var volumes = new List<IVolumeSource>();
        try
        {
            var bandwidth = bwlimitText is null ? 0 : Sizes.Parse(bwlimitText);
            var guestConfig = configPath is null ? null : await File.ReadAllTextAsync(configPath, cancellationToken).ConfigureAwait(false);
            var firewallConfig = firewallPath is null ? null : await File.ReadAllTextAsync(firewallPath, cancellationToken).ConfigureAwait(false);
            foreach (var spec in diskSpecs)
            {
                var (device, source) = DiskSources.SplitDisk(spec);
                volumes.Add(await DiskSources.OpenAsync(device, source, discard, cancellationToken).ConfigureAwait(false));
            }

            using var repository = await RepositoryCommandSupport.OpenAsync(repoPath, create: true, cancellationToken).ConfigureAwait(false);
            using var reporter = showProgress ? new ProgressReporter(0) : null;
            var engine = new VmBackupEngine(repository);
            var manifest = await engine.BackupAsync(new VmBackupRequest
            {
                Vmid = vmid,
                Volumes = volumes,
                GuestConfig = guestConfig,
                FirewallConfig = firewallConfig,
            }, new VmBackupOptions
            {
                BandwidthLimit = bandwidth,
                Parallelism = workers,
                DiscardSource = discard,
                Progress = reporter is null ? null : new ProgressAdapter(reporter),
            }, cancellationToken).ConfigureAwait(false);
            reporter?.Finish();
            Print(manifest, json);
            return ExitCodes.Ok;
        }
        catch (FileNotFoundException ex)
        {
            Console.Error.WriteLine($"engine backup: {ErrorText.Full(ex)}");
            return ExitCodes.NoInput;
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"engine backup: {ErrorText.Full(ex)}");
            return ExitCodes.Usage;
        }
        catch (NbdConnectionException ex)
        {
            Console.Error.WriteLine($"engine backup: {ErrorText.Full(ex)}");
            return ExitCodes.Unavailable;
        }
        catch (RepositoryNotFoundException ex)
        {
            Console.Error.WriteLine($"engine backup: {RepositoryCommandSupport.NotFoundText(ex, repoPath)}");
            return ExitCodes.NoInput;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException or RepositoryException)
        {
            Console.Error.WriteLine($"engine backup: {ErrorText.Full(ex)}; no snapshot was made");
            return ExitCodes.Failure;
        }
        finally
        {
            foreach (var volume in volumes)
            {
                await volume.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static void Print(SnapshotManifest manifest, bool json)
    {
        var stats = manifest.Stats;
        foreach (var device in manifest.Devices)
        {
            // A bitmap was given, so an incremental was asked for: say why it was not.
            if (device.FullReason is { } reason)
            {
                Console.Error.WriteLine($"engine backup: {device.Name}: full backup: {reason}");
            }
        }

        if (!json)
        {
            Console.Out.WriteLine($"snapshot {manifest.Id}: read {Sizes.Format(stats.BytesRead)}, reused {Sizes.Format(stats.BytesReused)}, " +
                $"stored {Sizes.Format(stats.BytesStored)} ({Sizes.Format(stats.BytesNew)} new) in {stats.DurationSeconds:0.00} s");
            return;
        }

        using var stream = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("snapshot", manifest.Id.ToString());
            writer.WriteString("parent", manifest.Parent?.ToString());
            writer.WriteNumber("bytes_read", stats.BytesRead);
            writer.WriteNumber("bytes_reused", stats.BytesReused);
            writer.WriteNumber("bytes_stored", stats.BytesStored);
            writer.WriteNumber("bytes_new", stats.BytesNew);
            writer.WriteNumber("chunks_new", stats.ChunksNew);
            writer.WriteNumber("chunks_reused", stats.ChunksReused);
            writer.WriteNumber("zero_chunks", stats.ZeroChunks);
            writer.WriteNumber("seconds", stats.DurationSeconds);
            writer.WriteStartArray("devices");
            foreach (var device in manifest.Devices)
            {
                writer.WriteStartObject();
                writer.WriteString("name", device.Name);
                writer.WriteNumber("size", device.Size);
                writer.WriteString("bitmap", device.Bitmap);
                if (device.FullReason is { } reason)
                {
                    writer.WriteString("full_reason", reason);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        stream.WriteByte((byte)'\n');
    }

    /// <summary>Shows bytes read against bytes planned, which grows as dirty regions are found.</summary>
    private sealed class ProgressAdapter(ProgressReporter reporter) : IProgress<BackupProgress>
    {
        public void Report(BackupProgress value)
        {
            reporter.Total = value.BytesToRead;
            reporter.Report(value.BytesRead);
        }
    }
}
