using Engine.Backup.Repository.Storage;

namespace Engine.Backup.S3;

/// <summary>How long a repository's snapshots are locked (S3 Object Lock): <c>--retain-days</c> and <c>--lock-mode</c>.</summary>
/// <param name="Days">Days each snapshot's objects stay locked after it is taken (at least 1).</param>
/// <param name="Mode">COMPLIANCE (the default: nobody can delete early) or GOVERNANCE.</param>
public sealed record S3RetentionSettings(int Days, ObjectLockMode Mode = ObjectLockMode.Compliance);
