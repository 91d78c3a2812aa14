namespace Engine.Backup.Repository.Backends;

/// <summary>
/// How long a lease under <c>locks/</c> counts as live without being rewritten, how often its holder rewrites it,
/// and how long a writer waits for a garbage collection's sweep to end (docs/storage-protocol.md). One value for the
/// whole repository so writers and collections agree; tests shorten it.
/// </summary>
/// <param name="Expiry">A lease not rewritten for this long belongs to a dead holder.</param>
/// <param name="RenewEvery">How often a live holder rewrites its lease (well under <paramref name="Expiry"/>).</param>
/// <param name="SweepWait">How long a writer waits for a sweep to end before it gives up.</param>
/// <param name="SweepPoll">How often a waiting writer looks again.</param>
internal sealed record LeaseTimes(TimeSpan Expiry, TimeSpan RenewEvery, TimeSpan SweepWait, TimeSpan SweepPoll)
{
    /// <summary>15 minutes' expiry, renewed every 5; a writer waits up to 10 minutes for a sweep, looking every second.</summary>
    public static LeaseTimes Default { get; } = new(TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(1));

    /// <summary>Whether a lease object, last written at <paramref name="lastModified"/>, still counts at <paramref name="now"/>.</summary>
    public bool IsLive(DateTimeOffset lastModified, DateTimeOffset now) => now - lastModified < Expiry;
}
