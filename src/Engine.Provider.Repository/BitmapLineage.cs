using Engine.Backup;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Provider.Repository;

/// <summary>
/// Which previous snapshot a device's dirty bitmap continues from. The manifest records a label
/// <c>NAME@GENERATION</c> per device; a generation starts with every <c>new</c> bitmap. Only the newest snapshot of
/// the guest that holds the device can be the one QEMU's bitmap counts changes from.
/// </summary>
internal static class BitmapLineage
{
    private const char Separator = '@';

    /// <summary>A fresh label for a bitmap that was just created.</summary>
    public static string NewLabel(string bitmapName) => bitmapName + Separator + Guid.NewGuid().ToString("N")[..12];

    /// <summary>Whether <paramref name="label"/> belongs to the bitmap called <paramref name="bitmapName"/> (any generation).</summary>
    public static bool IsOf(string? label, string? bitmapName) =>
        label is not null && (bitmapName is null
            ? label.Contains(Separator, StringComparison.Ordinal)
            : label.Length > bitmapName.Length && label.StartsWith(bitmapName, StringComparison.Ordinal) && label[bitmapName.Length] == Separator);

    /// <summary>
    /// The device entry of the newest snapshot of the guest that has <paramref name="device"/>, when it is usable as
    /// the base of an incremental backup: made with a bitmap (of <paramref name="bitmapName"/> when given), the same
    /// size, an index that reads back intact and every chunk it names present (QEMU's snapshot access refuses reads of
    /// clean ranges, so a base whose chunks are gone could never be completed). Null otherwise.
    /// </summary>
    public static DeviceEntry? FindBase(BackupRepository repository, string vmid, string device, long size, string? bitmapName)
    {
        var history = repository.ListSnapshots("vm", vmid);
        for (var i = history.Count - 1; i >= 0; i--)
        {
            foreach (var entry in history[i].Devices)
            {
                if (entry.Name != device)
                {
                    continue;
                }

                if (!IsOf(entry.Bitmap, bitmapName) || entry.Size != size || entry.ChunkSize != repository.ChunkSize)
                {
                    return null;
                }

                try
                {
                    var index = repository.ReadIndex(history[i].Id, device);
                    return repository.Chunks.TouchAll(index.Digests, out _) ? entry : null;
                }
                catch (RepositoryException)
                {
                    return null; // damaged: only a new bitmap (a full backup) is right
                }
            }
        }

        return null;
    }
}
