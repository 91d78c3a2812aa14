using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Tests.Repository;

/// <summary>Proxmox Backup Server prune semantics on synthetic snapshot times (UTC).</summary>
public sealed class PruneTests
{
    [Fact]
    public async Task Keep_last_then_daily_counts_days_not_already_kept()
    {
        using var repo = new TempRepository();
        string[] times = ["2026-01-01T10:00:00Z", "2026-01-01T12:00:00Z", "2026-01-02T10:00:00Z", "2026-01-03T10:00:00Z", "2026-01-10T10:00:00Z", "2026-02-01T10:00:00Z"];
        foreach (var time in times)
        {
            await repo.EmptySnapshotAsync("100", time);
        }

        var result = repo.Repository.Prune(new PruneOptions { KeepLast = 1, KeepDaily = 2 });

        Assert.Equal(
            ["2026-02-01T10:00:00Z last", "2026-01-10T10:00:00Z daily", "2026-01-03T10:00:00Z daily", "2026-01-02T10:00:00Z -", "2026-01-01T12:00:00Z -", "2026-01-01T10:00:00Z -"],
            result.Decisions.Select(d => $"{d.Snapshot.TimeText} {d.Reason ?? "-"}"));
        Assert.Equal(3, result.Kept);
        Assert.Equal(3, result.Removed);
        Assert.Equal(["2026-01-03T10:00:00Z", "2026-01-10T10:00:00Z", "2026-02-01T10:00:00Z"], repo.Repository.ListSnapshots().Select(m => m.Id.TimeText));
    }

    [Fact]
    public async Task Daily_keeps_the_newest_of_each_day_and_weekly_skips_weeks_already_kept()
    {
        using var repo = new TempRepository();
        // ISO week 2026-W01 runs from Monday 2025-12-29 to Sunday 2026-01-04.
        string[] times = ["2025-12-22T08:00:00Z", "2025-12-29T08:00:00Z", "2026-01-01T10:00:00Z", "2026-01-01T12:00:00Z", "2026-01-03T10:00:00Z"];
        foreach (var time in times)
        {
            await repo.EmptySnapshotAsync("100", time);
        }

        var result = repo.Repository.Prune(new PruneOptions { KeepDaily = 2, KeepWeekly = 2, DryRun = true });

        // daily: 01-03 and 01-01T12 (the 01-01T10 duplicate is removed, and that decision is final);
        // weekly: W01 is covered by the daily keeps, so the two newest other weeks: 12-29 is W01 too (skipped), 12-22 is W52.
        Assert.Equal(
            ["2026-01-03T10:00:00Z daily", "2026-01-01T12:00:00Z daily", "2026-01-01T10:00:00Z -", "2025-12-29T08:00:00Z -", "2025-12-22T08:00:00Z weekly"],
            result.Decisions.Select(d => $"{d.Snapshot.TimeText} {d.Reason ?? "-"}"));
        Assert.True(result.DryRun);
        Assert.Equal(5, repo.Repository.ListSnapshots().Count); // dry run deletes nothing
    }

    [Fact]
    public async Task Monthly_and_yearly_keep_the_newest_per_period()
    {
        using var repo = new TempRepository();
        string[] times = ["2024-06-01T00:00:00Z", "2024-12-31T23:59:59Z", "2025-03-01T00:00:00Z", "2025-03-15T00:00:00Z", "2025-04-01T00:00:00Z"];
        foreach (var time in times)
        {
            await repo.EmptySnapshotAsync("100", time);
        }

        var result = repo.Repository.Prune(new PruneOptions { KeepMonthly = 2, KeepYearly = 3 });

        Assert.Equal(
            ["2025-04-01T00:00:00Z monthly", "2025-03-15T00:00:00Z monthly", "2025-03-01T00:00:00Z -", "2024-12-31T23:59:59Z yearly", "2024-06-01T00:00:00Z -"],
            result.Decisions.Select(d => $"{d.Snapshot.TimeText} {d.Reason ?? "-"}"));
    }

    [Fact]
    public async Task Groups_are_pruned_separately_and_filters_limit_the_groups()
    {
        using var repo = new TempRepository();
        foreach (var vmid in new[] { "100", "200" })
        {
            await repo.EmptySnapshotAsync(vmid, "2026-01-01T10:00:00Z");
            await repo.EmptySnapshotAsync(vmid, "2026-01-02T10:00:00Z");
        }

        var only200 = repo.Repository.Prune(new PruneOptions { KeepLast = 1, Vmid = "200" });

        Assert.Equal(["vm/200/2026-01-02T10:00:00Z", "vm/200/2026-01-01T10:00:00Z"], only200.Decisions.Select(d => d.Snapshot.ToString()));
        Assert.Equal(3, repo.Repository.ListSnapshots().Count);

        var all = repo.Repository.Prune(new PruneOptions { KeepLast = 1 });
        Assert.Equal(1, all.Removed);
        Assert.Equal(["vm/100/2026-01-02T10:00:00Z", "vm/200/2026-01-02T10:00:00Z"], repo.Repository.ListSnapshots().Select(m => m.Id.ToString()).Order());
    }

    [Fact]
    public async Task Without_rules_everything_is_kept()
    {
        using var repo = new TempRepository();
        await repo.EmptySnapshotAsync("100", "2026-01-01T10:00:00Z");
        await repo.EmptySnapshotAsync("100", "2026-01-01T11:00:00Z");

        var result = repo.Repository.Prune(new PruneOptions());

        Assert.All(result.Decisions, d => Assert.Equal("all", d.Reason));
        Assert.Equal(2, repo.Repository.ListSnapshots().Count);
    }
}
