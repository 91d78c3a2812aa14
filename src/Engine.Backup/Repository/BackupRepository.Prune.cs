using System.Globalization;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Repository;

public sealed partial class BackupRepository
{
    /// <summary>
    /// Removes the snapshots no keep rule selects, per group (type and vmid), with Proxmox Backup Server semantics
    /// (see <see cref="PruneOptions"/>). Periods are UTC. With no rule at all nothing is removed. Chunks are freed by
    /// the next garbage collection.
    /// </summary>
    public PruneResult Prune(PruneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var groups = new SortedDictionary<string, List<SnapshotId>>(StringComparer.Ordinal);
        foreach (var manifest in ListSnapshots(options.Type, options.Vmid))
        {
            var key = manifest.Id.Type + "/" + manifest.Id.Vmid;
            if (!groups.TryGetValue(key, out var list))
            {
                groups[key] = list = [];
            }

            list.Add(manifest.Id);
        }

        var decisions = new List<PruneDecision>();
        var kept = 0;
        foreach (var group in groups.Values)
        {
            group.Reverse(); // newest first
            var marks = new Dictionary<SnapshotId, string?>();
            if (options.HasRules)
            {
                Select(group, marks, options.KeepLast, static id => id.ToString(), "last");
                Select(group, marks, options.KeepDaily, static id => id.Time.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), "daily");
                Select(group, marks, options.KeepWeekly, static id => IsoWeek(id.Time), "weekly");
                Select(group, marks, options.KeepMonthly, static id => id.Time.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture), "monthly");
                Select(group, marks, options.KeepYearly, static id => id.Time.UtcDateTime.ToString("yyyy", CultureInfo.InvariantCulture), "yearly");
            }

            foreach (var id in group)
            {
                var reason = options.HasRules ? marks.GetValueOrDefault(id) : "all";
                decisions.Add(new PruneDecision(id, reason is not null, reason));
                kept += reason is not null ? 1 : 0;
            }
        }

        var locked = new List<SnapshotId>();
        if (!options.DryRun)
        {
            foreach (var decision in decisions)
            {
                if (!decision.Keep)
                {
                    try
                    {
                        DeleteSnapshot(decision.Snapshot);
                    }
                    catch (SnapshotNotFoundException)
                    {
                        // removed by someone else meanwhile
                    }
                    catch (SnapshotLockedException)
                    {
                        locked.Add(decision.Snapshot);
                    }
                }
            }
        }

        return new PruneResult { Decisions = decisions, DryRun = options.DryRun, Kept = kept, Removed = decisions.Count - kept - locked.Count, Locked = locked };
    }

    /// <summary>
    /// One keep rule, as PBS's <c>mark_selections</c>: walking newest first, the first snapshot of each period is kept
    /// until <paramref name="keep"/> periods are; later snapshots of a kept period are removed; periods an earlier rule
    /// already covers are skipped, and decisions already made are final.
    /// </summary>
    private static void Select(List<SnapshotId> newestFirst, Dictionary<SnapshotId, string?> marks, int keep, Func<SnapshotId, string> period, string reason)
    {
        if (keep <= 0)
        {
            return;
        }

        var covered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in newestFirst)
        {
            if (marks.TryGetValue(id, out var earlier) && earlier is not null)
            {
                covered.Add(period(id));
            }
        }

        var included = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in newestFirst)
        {
            if (marks.ContainsKey(id))
            {
                continue;
            }

            var selection = period(id);
            if (covered.Contains(selection))
            {
                continue;
            }

            if (included.Add(selection))
            {
                if (included.Count > keep)
                {
                    break;
                }

                marks[id] = reason;
            }
            else
            {
                marks[id] = null;
            }
        }
    }

    private static string IsoWeek(DateTimeOffset time)
    {
        var date = time.UtcDateTime;
        return string.Create(CultureInfo.InvariantCulture, $"{ISOWeek.GetYear(date)}/{ISOWeek.GetWeekOfYear(date):00}");
    }
}
