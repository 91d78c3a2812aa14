namespace Engine.Backup.Repository.Storage;

/// <summary>How <see cref="IObjectStore.SaveAsync"/> writes an object.</summary>
/// <param name="IfAbsent">
/// Write only when no object of that name exists (S3 <c>If-None-Match: *</c>, a local <c>O_EXCL</c>/link): a
/// content-addressed chunk that is already stored is not sent again, without a HEAD round trip first.
/// </param>
/// <param name="RetainUntil">Lock the object until then (S3 Object Lock); null for none. Backends without <see cref="ObjectStoreCapabilities.ObjectLock"/> refuse a date.</param>
/// <param name="LockMode">The lock's mode when <paramref name="RetainUntil"/> is set.</param>
public readonly record struct SaveOptions(bool IfAbsent = false, DateTimeOffset? RetainUntil = null, ObjectLockMode LockMode = ObjectLockMode.Compliance);
