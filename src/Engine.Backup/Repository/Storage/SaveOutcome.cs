namespace Engine.Backup.Repository.Storage;

/// <summary>What <see cref="IObjectStore.SaveAsync"/> did.</summary>
public enum SaveOutcome
{
    /// <summary>The object was written (or replaced) and is durable.</summary>
    Written,

    /// <summary><see cref="SaveOptions.IfAbsent"/> was set and the object already existed: nothing was written.</summary>
    AlreadyExists,
}
