using System.CommandLine;
using System.Globalization;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine forget --repo DIR SNAPSHOT [--json]</c>: removes one snapshot (what PVE's "Remove" of a backup volume
/// asks for). Its chunks stay until <c>engine gc</c>, which other snapshots may still need. With <c>--json</c>, the
/// forgotten snapshot's manifest. Exit 66 when the repository or snapshot does not exist, 64 for a malformed id.
/// </summary>
internal static class ForgetCommand
{
    public static Command Create()
    {
        var repo = RepositoryCommandSupport.RepoOption();
        var snapshot = new Argument<string>("SNAPSHOT") { Description = "The snapshot to remove (TYPE/VMID/TIME, e.g. vm/100/2026-11-26T06:30:00Z)." };
        var json = RepositoryCommandSupport.JsonOption();
        var command = new Command("forget", "Remove one snapshot from a backup repository (engine gc frees its chunks).") { repo, snapshot, json };
        command.SetAction((parse, cancellationToken) =>
        {
            var text = parse.GetValue(snapshot)!;
            if (!SnapshotId.TryParse(text, out var id))
            {
                Console.Error.WriteLine($"engine forget: '{text}' is not a snapshot id (TYPE/VMID/yyyy-MM-ddTHH:mm:ssZ)");
                return Task.FromResult(ExitCodes.Usage);
            }

            return RepositoryCommandSupport.WithRepositoryAsync("forget", parse.GetValue(repo)!, repository =>
            {
                var manifest = repository.ReadManifest(id);
                repository.DeleteSnapshot(id);
                if (parse.GetValue(json))
                {
                    RepositoryCommandSupport.WriteJson(manifest);
                }
                else
                {
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"forgot {id} ({manifest.Devices.Count} device(s){(manifest.Archive is null ? "" : ", a file archive")}); engine gc frees the chunks no other snapshot uses"));
                }

                return Task.FromResult(ExitCodes.Ok);
            }, cancellationToken);
        });
        return command;
    }
}
