using System.CommandLine;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine prune --repo DIR [--type vm|ct] [--vmid ID] --keep-last N --keep-daily N --keep-weekly N
/// --keep-monthly N --keep-yearly N [--dry-run] [--json]</c>: removes the snapshots no rule keeps, per guest, with
/// Proxmox Backup Server semantics (UTC periods). Chunks are freed by <c>engine gc</c>.
/// </summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var repo = RepositoryCommandSupport.RepoOption();
        var type = new Option<string?>("--type") { Description = "Only guests of this type (vm or ct)." };
        type.AcceptOnlyFromAmong("vm", "ct");
        var vmid = new Option<string?>("--vmid") { Description = "Only this guest." };
        var keepLast = Keep("--keep-last", "Keep the N newest snapshots.");
        var keepDaily = Keep("--keep-daily", "Keep the newest snapshot of each of the last N days that have one.");
        var keepWeekly = Keep("--keep-weekly", "Keep the newest snapshot of each of the last N ISO weeks that have one.");
        var keepMonthly = Keep("--keep-monthly", "Keep the newest snapshot of each of the last N months that have one.");
        var keepYearly = Keep("--keep-yearly", "Keep the newest snapshot of each of the last N years that have one.");
        var dryRun = new Option<bool>("--dry-run", "-n") { Description = "Show what would be removed; remove nothing." };
        var json = RepositoryCommandSupport.JsonOption();
        var command = new Command("prune", "Remove snapshots that no keep rule selects.") { repo, type, vmid, keepLast, keepDaily, keepWeekly, keepMonthly, keepYearly, dryRun, json };
        command.SetAction((parse, cancellationToken) =>
        {
            var options = new PruneOptions
            {
                Type = parse.GetValue(type),
                Vmid = parse.GetValue(vmid),
                KeepLast = parse.GetValue(keepLast),
                KeepDaily = parse.GetValue(keepDaily),
                KeepWeekly = parse.GetValue(keepWeekly),
                KeepMonthly = parse.GetValue(keepMonthly),
                KeepYearly = parse.GetValue(keepYearly),
                DryRun = parse.GetValue(dryRun),
            };
            if (options.KeepLast < 0 || options.KeepDaily < 0 || options.KeepWeekly < 0 || options.KeepMonthly < 0 || options.KeepYearly < 0 ||
                (options.Vmid is not null && !SnapshotId.IsValidVmid(options.Vmid)))
            {
                Console.Error.WriteLine("engine prune: keep counts must be >= 0 and --vmid a number");
                return Task.FromResult(ExitCodes.Usage);
            }

            return RepositoryCommandSupport.WithRepositoryAsync("prune", parse.GetValue(repo)!, repository =>
            {
                var result = repository.Prune(options);
                if (parse.GetValue(json))
                {
                    RepositoryCommandSupport.WriteJson(result);
                    return Task.FromResult(ExitCodes.Ok);
                }

                if (!options.HasRules)
                {
                    Console.Error.WriteLine("engine prune: no --keep-* rule given: keeping everything");
                }

                foreach (var decision in result.Decisions)
                {
                    var verb = decision.Keep ? "keep  " : options.DryRun ? "would remove" : "remove";
                    Console.Out.WriteLine(decision.Keep ? $"{verb} {decision.Snapshot} ({decision.Reason})" : $"{verb} {decision.Snapshot}");
                }

                foreach (var locked in result.Locked)
                {
                    Console.Out.WriteLine($"locked {locked} (Object Lock retains it until its date; left in place)");
                }

                Console.Out.WriteLine($"{result.Kept} kept, {result.Removed} {(options.DryRun ? "would be removed (dry run)" : "removed")}" +
                    (result.Locked.Count > 0 ? $", {result.Locked.Count} locked" : ""));
                return Task.FromResult(ExitCodes.Ok);
            }, cancellationToken);
        });
        return command;
    }

    private static Option<int> Keep(string name, string description) => new(name) { Description = description };
}
