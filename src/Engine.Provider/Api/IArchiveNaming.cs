namespace Engine.Provider.Api;

/// <summary>
/// How a provider's archive names map back to the backups they name. Each provider names its archives its own way in
/// <see cref="IBackupProvider.BackupInit"/>; the protocol host never builds or takes apart a name itself. It asks this
/// where PVE hands a name to a process that did not choose it: <c>backup_container</c> runs in a fork inside the
/// container's namespaces, so the host starts the same backup again from the identity the name carries and checks that
/// the provider names it the same.
/// </summary>
public interface IArchiveNaming
{
    /// <summary>
    /// The backup <paramref name="archiveName"/> names. It accepts what <see cref="IBackupProvider.BackupInit"/>
    /// returned and, where the provider's volume names carry one, the same name behind a storage prefix.
    /// </summary>
    /// <exception cref="FormatException">The name is not one this provider gives; the message names it.</exception>
    ArchiveIdentity Parse(string archiveName);
}
