using System.CommandLine;
using System.Globalization;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine snapshots --repo DIR [--type vm|ct] [--vmid ID] [--json]</c>: the repository's complete snapshots,
/// oldest first: id, devices with their sizes, total size, bytes stored by that backup. With <c>--json</c>, the
/// manifests themselves.
/// </summary>
internal static class SnapshotsCommand
{
    private static readonly string[] Header = ["SNAPSHOT", "DEVICES", "SIZE", "STORED", "PARENT"];

    public static Command Create()
    {
        var repo = RepositoryCommandSupport.RepoOption();
        var type = new Option<string?>("--type") { Description = "Only snapshots of this guest type (vm or ct)." };
        type.AcceptOnlyFromAmong("vm", "ct");
        var vmid = new Option<string?>("--vmid") { Description = "Only snapshots of this guest." };
        var json = RepositoryCommandSupport.JsonOption();
        var command = new Command("snapshots", "List the snapshots in a backup repository.") { repo, type, vmid, json };
        command.SetAction((parse, cancellationToken) => RepositoryCommandSupport.WithRepositoryAsync("snapshots", parse.GetValue(repo)!, repository =>
        {
            var snapshots = repository.ListSnapshots(parse.GetValue(type), parse.GetValue(vmid));
            if (parse.GetValue(json))
            {
                RepositoryCommandSupport.WriteJson(snapshots);
            }
            else
            {
                Print(snapshots);
            }

            return Task.FromResult(ExitCodes.Ok);
        }, cancellationToken));
        return command;
    }

    private static void Print(IReadOnlyList<SnapshotManifest> snapshots)
    {
        var rows = new List<string[]>(snapshots.Count + 1) { Header };
        foreach (var snapshot in snapshots)
        {
            long total = 0;
            var devices = new List<string>(snapshot.Devices.Count);
            foreach (var device in snapshot.Devices)
            {
                total += device.Size;
                devices.Add($"{device.Name} ({Sizes.Format(device.Size)})");
            }

            if (snapshot.Archive is { } archive)
            {
                // A container's file archive: its files stand where a VM's disks would.
                total += archive.Bytes;
                devices.Add(string.Create(CultureInfo.InvariantCulture, $"archive ({archive.Files} files)"));
            }

            rows.Add([
                snapshot.Id.ToString(),
                devices.Count == 0 ? "-" : string.Join(", ", devices),
                Sizes.Format(total),
                Sizes.Format(snapshot.Stats.BytesStored),
                snapshot.Parent?.ToString() ?? "-",
            ]);
        }

        RepositoryCommandSupport.WriteTable(rows);
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{snapshots.Count} snapshot(s)"));
    }
}
