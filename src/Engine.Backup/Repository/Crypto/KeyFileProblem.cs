namespace Engine.Backup.Repository.Crypto;

/// <summary>What is wrong with a key file (or a paper key), so a caller can pick its exit code.</summary>
public enum KeyFileProblem
{
    /// <summary>The key file or passphrase file does not exist.</summary>
    Missing,

    /// <summary>The file is not a key file of a format this engine reads, or its content does not hold together.</summary>
    Damaged,

    /// <summary>The passphrase does not unwrap the key.</summary>
    WrongPassphrase,

    /// <summary>The key is wrapped and no passphrase was given.</summary>
    PassphraseRequired,

    /// <summary>The file to create already exists: a key file is never overwritten.</summary>
    Exists,
}
