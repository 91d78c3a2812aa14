namespace Engine.Backup.Repository.Snapshots;

/// <summary>
/// Which snapshots <see cref="BackupRepository.Prune"/> keeps, per group (type and vmid), with Proxmox Backup Server
/// semantics: keep-last keeps the newest N; each of keep-daily, -weekly, -monthly and -yearly then keeps the newest
/// snapshot of each of the N most recent periods (UTC days, ISO weeks, months, years) not already covered by an
/// earlier rule. With no rule at all, everything is kept.
/// </summary>
public sealed class PruneOptions
{
    /// <summary>Newest snapshots to keep.</summary>
    public int KeepLast { get; init; }

    /// <summary>Days to keep one snapshot of.</summary>
    public int KeepDaily { get; init; }

    /// <summary>ISO weeks to keep one snapshot of.</summary>
    public int KeepWeekly { get; init; }

    /// <summary>Months to keep one snapshot of.</summary>
    public int KeepMonthly { get; init; }

    /// <summary>Years to keep one snapshot of.</summary>
    public int KeepYearly { get; init; }

    /// <summary>Only groups of this type (<c>vm</c> or <c>ct</c>); null for all.</summary>
    public string? Type { get; init; }

    /// <summary>Only groups of this guest; null for all.</summary>
    public string? Vmid { get; init; }

    /// <summary>Decide but delete nothing.</summary>
    public bool DryRun { get; init; }

    /// <summary>Whether any keep rule is set.</summary>
    public bool HasRules => KeepLast > 0 || KeepDaily > 0 || KeepWeekly > 0 || KeepMonthly > 0 || KeepYearly > 0;
}
