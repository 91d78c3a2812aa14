namespace Engine.Backup.Repository.Storage;

/// <summary>What a backend can do beyond the five operations every backend has.</summary>
[Flags]
public enum ObjectStoreCapabilities
{
    /// <summary>Nothing beyond the basics.</summary>
    None = 0,

    /// <summary><see cref="SaveOptions.IfAbsent"/> is atomic at the store (no check-then-write race).</summary>
    AtomicIfAbsent = 1,

    /// <summary>Objects can be retained (S3 Object Lock): <see cref="SaveOptions.RetainUntil"/> and <see cref="IObjectStore.ExtendRetentionAsync"/> work.</summary>
    ObjectLock = 2,
}
