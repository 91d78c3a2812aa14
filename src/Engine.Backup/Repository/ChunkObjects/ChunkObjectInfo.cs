using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Repository.ChunkObjects;

/// <summary>One stored chunk as a listing tells it, for garbage collection and a quick verify.</summary>
/// <param name="Digest">The chunk's name.</param>
/// <param name="StoredLength">The object's length (header and payload; the plaintext's under encryption).</param>
/// <param name="LastModified">When it was written (local: last touched).</param>
internal readonly record struct ChunkObjectInfo(ChunkDigest Digest, long StoredLength, DateTimeOffset LastModified);
