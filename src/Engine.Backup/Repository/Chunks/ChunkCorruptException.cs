namespace Engine.Backup.Repository.Chunks;

/// <summary>A chunk file failed its header or checksum test, or decompressed to the wrong content.</summary>
public sealed class ChunkCorruptException : RepositoryException
{
    /// <summary>Creates the exception for chunk <paramref name="digest"/> stored at <paramref name="path"/>.</summary>
    public ChunkCorruptException(ChunkDigest digest, string path, ChunkCheck check, Exception? innerException = null)
        : base(path, $"chunk {digest} is corrupt ({Describe(check)}): {path}", innerException)
    {
        Digest = digest;
        Check = check;
    }

    /// <summary>The chunk.</summary>
    public ChunkDigest Digest { get; }

    /// <summary>What is wrong with it.</summary>
    public ChunkCheck Check { get; }

    /// <summary>A few words on what a check result means, for messages.</summary>
    internal static string Describe(ChunkCheck check) => check switch
    {
        ChunkCheck.Ok => "ok",
        ChunkCheck.Missing => "missing",
        ChunkCheck.NotRegularFile => "not a regular file",
        ChunkCheck.BadHeader => "bad header",
        ChunkCheck.Truncated => "truncated",
        ChunkCheck.ChecksumMismatch => "payload checksum mismatch",
        ChunkCheck.BadPayload => "payload does not decompress to its recorded length",
        ChunkCheck.DigestMismatch => "content does not match its SHA-256",
        _ => check.ToString(),
    };
}
