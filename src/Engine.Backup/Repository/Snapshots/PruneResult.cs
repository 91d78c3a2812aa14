namespace Engine.Backup.Repository.Snapshots;

/// <summary>What <see cref="BackupRepository.Prune"/> decided (and, unless a dry run, did).</summary>
public sealed class PruneResult
{
    /// <summary>One decision per snapshot considered, newest first within each group.</summary>
    public IReadOnlyList<PruneDecision> Decisions { get; init; } = [];

    /// <summary>Whether nothing was deleted on purpose.</summary>
    public bool DryRun { get; init; }

    /// <summary>Snapshots kept.</summary>
    public int Kept { get; init; }

    /// <summary>Snapshots removed (or that would be, in a dry run).</summary>
    public int Removed { get; init; }

    /// <summary>Snapshots the rules removed but Object Lock still retains: left in place, and not counted as removed.</summary>
    public IReadOnlyList<SnapshotId> Locked { get; init; } = [];
}

/// <summary>The fate of one snapshot.</summary>
/// <param name="Snapshot">The snapshot.</param>
/// <param name="Keep">Kept (true) or removed.</param>
/// <param name="Reason">The rule that kept it (<c>last</c>, <c>daily</c>, <c>weekly</c>, <c>monthly</c>, <c>yearly</c>, <c>all</c>), or null when removed.</param>
public sealed record PruneDecision(SnapshotId Snapshot, bool Keep, string? Reason);
