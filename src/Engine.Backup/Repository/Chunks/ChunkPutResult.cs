namespace Engine.Backup.Repository.Chunks;

/// <summary>What <see cref="ChunkStore.PutAsync"/> did.</summary>
/// <param name="Stored">True when a new chunk file was written; false when it was already there (or is the zero chunk).</param>
/// <param name="StoredBytes">Bytes written to the repository for it (header included); 0 when not stored.</param>
internal readonly record struct ChunkPutResult(bool Stored, long StoredBytes);
