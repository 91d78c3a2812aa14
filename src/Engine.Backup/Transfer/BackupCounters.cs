using Engine.Backup.Repository.Snapshots;

namespace Engine.Backup.Transfer;

/// <summary>Byte and chunk counts shared by the workers of one backup; updated with interlocked adds.</summary>
internal sealed class BackupCounters
{
    private long _bytesToRead;
    private long _bytesRead;
    private long _bytesReused;
    private long _bytesStored;
    private long _bytesNew;
    private long _chunksNew;
    private long _chunksReused;
    private long _zeroChunks;

    public long BytesToRead => Volatile.Read(ref _bytesToRead);

    public long BytesRead => Volatile.Read(ref _bytesRead);

    public long BytesReused => Volatile.Read(ref _bytesReused);

    public long BytesStored => Volatile.Read(ref _bytesStored);

    public long BytesNew => Volatile.Read(ref _bytesNew);

    public long ChunksNew => Volatile.Read(ref _chunksNew);

    public long ChunksReused => Volatile.Read(ref _chunksReused);

    public long ZeroChunks => Volatile.Read(ref _zeroChunks);

    public void Planned(long bytes) => Interlocked.Add(ref _bytesToRead, bytes);

    public void Read(long bytes) => Interlocked.Add(ref _bytesRead, bytes);

    public void Zero() => Interlocked.Increment(ref _zeroChunks);

    public void Reused(long bytes)
    {
        Interlocked.Add(ref _bytesReused, bytes);
        Interlocked.Increment(ref _chunksReused);
    }

    public void Stored(long bytes, long storedBytes)
    {
        Interlocked.Add(ref _bytesNew, bytes);
        Interlocked.Add(ref _bytesStored, storedBytes);
        Interlocked.Increment(ref _chunksNew);
    }

    /// <summary>The counts as a manifest's stats, with the time the backup took so far.</summary>
    public SnapshotStats ToStats(TimeSpan elapsed) => new()
    {
        BytesRead = BytesRead,
        BytesReused = BytesReused,
        BytesStored = BytesStored,
        BytesNew = BytesNew,
        ChunksNew = ChunksNew,
        ChunksReused = ChunksReused,
        ZeroChunks = ZeroChunks,
        DurationSeconds = elapsed.TotalSeconds,
    };
}
