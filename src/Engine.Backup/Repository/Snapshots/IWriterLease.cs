namespace Engine.Backup.Repository.Snapshots;

/// <summary>
/// A running snapshot writer's claim that garbage collection must respect: a locked file in <c>writers/</c> (local
/// directory) or a lease object in <c>locks/</c> (object store). Disposing ends it.
/// </summary>
internal interface IWriterLease : IDisposable
{
    /// <summary>When the writer registered (garbage collection keeps what was touched since).</summary>
    DateTimeOffset Start { get; }

    /// <summary>Gives the claim up without cleaning anything, as a dead process would (crash tests).</summary>
    void Release();
}
