using Engine.Sources;
using Engine.Blocks.Buffers;
using Engine.Provider.Api;

namespace ImageFiles;

/// <summary>VM backups: one raw image per disk.</summary>
internal sealed partial class ImageFilesProvider
{
    // PVE names no bitmap for the file-handle mechanism; the source still needs a label to hand out dirty regions.
    private const string FileHandleBitmap = "file-handle";
    private const int CopyBufferBytes = 4 << 20;

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> BackupVmQueryIncremental(string vmid, IReadOnlyDictionary<string, long> deviceSizes)
    {
        // Incremental only from the archive QEMU's bitmaps count from, when it is still the newest one kept.
        var newest = store.Newest("vm", vmid);
        var usable = newest is not null && newest == store.BitmapBase(vmid) ? store.Committed(newest) : null;
        return deviceSizes.ToDictionary(
            d => d.Key,
            d => usable is not null && new FileInfo(ArchiveStore.Image(usable, d.Key)) is { Exists: true } image && image.Length == d.Value
                ? BackupMechanisms.IncrementalUse
                : BackupMechanisms.IncrementalNew,
            StringComparer.Ordinal);
    }

    /// <inheritdoc />
    public async Task BackupVmAsync(string vmid, string guestConfig, IReadOnlyDictionary<string, BackupVmVolume> volumes, BackupVmInfo info, CancellationToken cancellationToken)
    {
        var name = StartArchive(vmid, "backup_vm", guestConfig, info.FirewallConfig);
        var partial = store.Partial(name);
        var bitmapBase = store.BitmapBase(vmid);
        foreach (var (device, volume) in volumes)
        {
            if (device.Contains('/', StringComparison.Ordinal) || device.StartsWith('.'))
            {
                throw new ArgumentException($"invalid device name '{device}'", nameof(volumes));
            }

            // 'reuse': QEMU's snapshot access reads only the dirty regions, so the image they go over must be there.
            var previous = volume.BitmapMode == BitmapMode.Reuse && bitmapBase is not null ? ArchiveStore.Image(store.Committed(bitmapBase), device) : null;
            if (volume.BitmapMode == BitmapMode.Reuse && !File.Exists(previous))
            {
                throw new InvalidOperationException($"{device}: bitmap-mode reuse, but no image of it from {bitmapBase?.ToString() ?? "an earlier backup"} to continue from");
            }

            await using var source = await OpenSourceAsync(device, volume, cancellationToken).ConfigureAwait(false);
            var copied = await WriteImageAsync(source, ArchiveStore.Image(partial, device), previous, cancellationToken).ConfigureAwait(false);
            log(ProviderLogLevel.Info, previous is null
                ? $"{device}: full backup, {copied} bytes of data"
                : $"{device}: incremental from {bitmapBase}, {copied} dirty bytes");
        }

        // backup_vm returning is QEMU's signal to clear its bitmaps: they count from this archive now.
        store.SetBitmapBase(vmid, name);
    }

    /// <summary>The device's snapshot access: an NBD export (mechanism <c>nbd</c>) or a descriptor (<c>file-handle</c>).</summary>
    private static async Task<IVolumeSource> OpenSourceAsync(string device, BackupVmVolume volume, CancellationToken cancellationToken)
    {
        var bitmap = volume.BitmapMode == BitmapMode.Reuse ? volume.BitmapName ?? FileHandleBitmap : null;
        if (volume.NbdPath is { } socket)
        {
            return await NbdVolumeSource.ConnectAsync(device, $"nbd+unix:///{Uri.EscapeDataString(device)}?socket={socket}", bitmap, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        return volume.FileHandle is { } handle
            ? new FileVolumeSource(device, handle, $"{device} (file handle)", bitmap, bitmap is null ? null : volume.NextDirtyRegion)
            : throw new ArgumentException($"{device}: neither nbd-path nor file-handle", nameof(volume));
    }

    /// <summary>
    /// Writes <paramref name="target"/>: with no <paramref name="previous"/> image a sparse file holding the source's
    /// non-zero data, otherwise a copy of the previous image (a reflink where the filesystem can) with the source's
    /// dirty regions written over it. Returns the bytes read from the source.
    /// </summary>
    private static async Task<long> WriteImageAsync(IVolumeSource source, string target, string? previous, CancellationToken cancellationToken)
    {
        if (previous is not null)
        {
            File.Copy(previous, target);
        }

        using var image = File.OpenHandle(target, previous is null ? FileMode.CreateNew : FileMode.Open, FileAccess.ReadWrite);
        RandomAccess.SetLength(image, source.Size);
        var ranges = previous is null ? source.GetDataRangesAsync(cancellationToken) : source.GetDirtyRegionsAsync(cancellationToken);

        // Pool buffers are page-aligned, as reads from an O_DIRECT file handle want them.
        using var buffer = BufferPool.Shared.Rent(CopyBufferBytes);
        long read = 0;
        await foreach (var range in ranges.ConfigureAwait(false))
        {
            for (var offset = range.Offset; offset < range.End;)
            {
                var chunk = buffer.Memory[..(int)Math.Min(CopyBufferBytes, range.End - offset)];
                await source.ReadAsync(offset, chunk, cancellationToken).ConfigureAwait(false);

                // A full image stays sparse: zeroes are holes already. An incremental must overwrite the old data.
                if (previous is not null || chunk.Span.ContainsAnyExcept((byte)0))
                {
                    await RandomAccess.WriteAsync(image, chunk, offset, cancellationToken).ConfigureAwait(false);
                }

                offset += chunk.Length;
                read += chunk.Length;
            }
        }

        RandomAccess.FlushToDisk(image);
        return read;
    }
}
