namespace Engine.Backup.Repository.Storage;

/// <summary>How strictly a retained object is protected (S3 Object Lock's modes).</summary>
public enum ObjectLockMode
{
    /// <summary>Nobody, not even the bucket's owner, can delete or shorten it before its date.</summary>
    Compliance,

    /// <summary>Only a user with the bypass-governance permission can delete or shorten it before its date.</summary>
    Governance,
}
