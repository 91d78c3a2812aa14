namespace Engine.Backup.Repository.Snapshots;

/// <summary>One backed-up device of a snapshot.</summary>
/// <param name="Name">Device name, e.g. <c>scsi0</c> (letters, digits, <c>_ . + -</c>).</param>
/// <param name="Size">Device size in bytes.</param>
/// <param name="ChunkSize">Bytes per chunk (the last chunk may be shorter).</param>
/// <param name="Index">File name of the index inside the snapshot directory.</param>
/// <param name="IndexChecksum">XxHash3 of the index file (16 hex digits), as in its trailer.</param>
/// <param name="Bitmap">The dirty bitmap this backup was taken with (the lineage for the next incremental), or null.</param>
public sealed record DeviceEntry(string Name, long Size, int ChunkSize, string Index, string IndexChecksum, string? Bitmap)
{
    /// <summary>
    /// Why the device was backed up in full although it came with a bitmap (an incremental was asked for), such as
    /// "no earlier snapshot of scsi0 used bitmap X"; null for an incremental, or a device without a bitmap.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? FullReason { get; init; }
}
