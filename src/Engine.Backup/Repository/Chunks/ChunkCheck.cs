namespace Engine.Backup.Repository.Chunks;

/// <summary>The outcome of checking one chunk file, from cheapest to most expensive test.</summary>
public enum ChunkCheck
{
    /// <summary>Every test requested passed.</summary>
    Ok,

    /// <summary>No file for the digest.</summary>
    Missing,

    /// <summary>A link, directory or special file where the chunk file belongs (never followed or read).</summary>
    NotRegularFile,

    /// <summary>Wrong magic, version, encoding or header checksum.</summary>
    BadHeader,

    /// <summary>Shorter than its header says (a torn write).</summary>
    Truncated,

    /// <summary>The stored payload does not match the XxHash3 in the header.</summary>
    ChecksumMismatch,

    /// <summary>The payload does not decompress, or not to the length the header records.</summary>
    BadPayload,

    /// <summary>The content does not hash to the digest that names it (only found with a rehash).</summary>
    DigestMismatch,
}
