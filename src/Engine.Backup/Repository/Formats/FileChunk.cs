using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Repository.Formats;

/// <summary>One content-defined chunk of a regular file's data.</summary>
/// <param name="Length">Uncompressed length in bytes.</param>
/// <param name="Digest">The chunk's SHA-256 in the store, or <see cref="ChunkDigest.Zero"/> for all zeros (not stored).</param>
internal readonly record struct FileChunk(int Length, ChunkDigest Digest);
