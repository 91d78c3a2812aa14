using System.Text;
using Engine.Blocks;
using Engine.Qcow2.Format;
using Engine.Qcow2.Reading;
using Microsoft.Win32.SafeHandles;

namespace Engine.Qcow2.Writing;

/// <summary>
/// A writable qcow2 image (version 3, refcount order 4, standard L2 entries, no internal snapshots) as a block device:
/// reads, writes, trims, zeroing, flushes and growth, with copy-on-write from an optional backing device.
/// </summary>
/// <remarks>
/// <para>
/// New clusters are appended at the end of the file. The mapping and the refcounts live in memory and reach the disk on
/// <see cref="FlushAsync"/>, in the order qemu keeps (block/qcow2-refcount.c, qcow2-cluster.c): guest data and refcount
/// blocks first, then the refcount table, then the L2 tables, then the L1 table and the header, with a
/// <c>fdatasync</c> between each step, and the refcounts of clusters no longer used dropped only after that. A crash
/// between flushes loses the writes since the last flush and may leak clusters (<c>qemu-img check -r leaks</c>), but
/// never leaves an entry pointing at a cluster that is unreferenced or not yet written.
/// </para>
/// <para>
/// Writes to clusters already allocated go straight to the file, concurrently. Writes that allocate, and all metadata
/// changes, take one lock; a new cluster's entry is published only after its data is written. A conversion
/// (<see cref="Qcow2CreateOptions.Conversion"/>) streams instead: whole-cluster writes allocate under the lock and write
/// their data outside it, several at once, with write-back started as they go.
/// </para>
/// </remarks>
public sealed partial class Qcow2WritableDevice : IBlockDevice
{
    private const int EINVAL = 22;
    private const int ENOSPC = 28;
    private const int ENOTSUP = 95;
    private const int EIO = 5;

    private readonly HostFile _file;
    private readonly IBlockDevice? _backing;
    private readonly RefcountBook _refcounts;
    private readonly ClusterMap _map;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly byte[] _zeroCluster;
    private readonly List<(long Cluster, ulong Entry)> _updates = [];
    private readonly bool _conversion;
    private long _size;
    private bool _headerDirty;
    private int _disposed;

    /// <summary>The guest size and L1 table the header on disk names: what a crash falls back to until the next header write.</summary>
    private (long Size, long L1Offset, int L1Size) _durable;

    private Qcow2WritableDevice(HostFile file, ReadOnlySpan<byte> header, IBlockDevice? backing, string? backingFile)
    {
        _file = file;
        _backing = backing;
        BackingFile = backingFile;
        _clusterBits = (int)HeaderLayout.U32(header, HeaderLayout.ClusterBits);
        _clusterSize = 1 << _clusterBits;
        _zeroCluster = new byte[_clusterSize];
        _conversion = !file.Barriers;
        _size = (long)HeaderLayout.U64(header, HeaderLayout.Size);

        var l1Size = (int)HeaderLayout.U32(header, HeaderLayout.L1Size);
        var l1Offset = (long)HeaderLayout.U64(header, HeaderLayout.L1TableOffset);
        var l1 = ReadTable(file, l1Offset, l1Size, TableEntry.Copied | TableEntry.OffsetMask);
        _map = new ClusterMap(file, _clusterBits, l1, l1Offset);
        _durable = (_size, l1Offset, l1Size);

        var tableOffset = (long)HeaderLayout.U64(header, HeaderLayout.RefcountTableOffset);
        var tableClusters = (int)HeaderLayout.U32(header, HeaderLayout.RefcountTableClusters);
        var table = ReadTable(file, tableOffset, tableClusters * (_clusterSize / 8), TableEntry.RefcountTableOffsetMask);
        var nextFree = (file.Length + _clusterSize - 1) >> _clusterBits;
        _refcounts = new RefcountBook(file, _clusterBits, table, tableOffset, tableClusters, nextFree);
        Capabilities = BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.Fua | BlockDeviceCapabilities.Trim
            | BlockDeviceCapabilities.WriteZeroes | BlockDeviceCapabilities.FastZero | BlockDeviceCapabilities.Extents;
    }

    /// <summary>The image file's path, for messages.</summary>
    public string Path => _file.Path;

    /// <summary>The backing file named in the header, as written there (null without one).</summary>
    public string? BackingFile { get; }

    /// <summary>Cluster size in bytes.</summary>
    public int ClusterSize => _clusterSize;

    /// <inheritdoc />
    public long Size => Volatile.Read(ref _size);

    /// <inheritdoc />
    public BlockDeviceCapabilities Capabilities { get; }

    /// <inheritdoc />
    public int MinimumBlockSize => 1;

    /// <inheritdoc />
    public int PreferredBlockSize => _clusterSize;

    /// <summary>
    /// Creates a new image at <paramref name="path"/> (which must not exist) and opens it for writing.
    /// </summary>
    /// <param name="path">The image file to create.</param>
    /// <param name="options">Size, cluster size, backing file.</param>
    /// <param name="backing">The backing file's contents, opened by the caller; owned (disposed) by the device from now on.</param>
    /// <exception cref="IOException">The file exists or cannot be created.</exception>
    /// <exception cref="ArgumentException">The options describe no valid image.</exception>
    public static Qcow2WritableDevice Create(string path, Qcow2CreateOptions options, IBlockDevice? backing = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            return Create(handle, path, options, backing);
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    /// <summary>
    /// Writes a new image into an empty file the caller has created (with its own mode and name rules, such as a
    /// restore's private temporary file) and opens it for writing. The device owns <paramref name="handle"/> from now on,
    /// and disposes it if this fails.
    /// </summary>
    /// <param name="handle">The empty file, open for reading and writing.</param>
    /// <param name="path">The file's name, for messages and for resolving a relative backing file.</param>
    /// <param name="options">Size, cluster size, backing file.</param>
    /// <param name="backing">The backing file's contents; owned (disposed) by the device from now on.</param>
    public static Qcow2WritableDevice Create(SafeFileHandle handle, string path, Qcow2CreateOptions options, IBlockDevice? backing = null)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        var file = new HostFile(path, handle) { Barriers = !options.Conversion };
        try
        {
            if (file.Length != 0)
            {
                throw new IOException($"{path} is not empty; a new qcow2 image is written only into an empty file");
            }

            ImageCreator.Write(file, options);
            return OpenOn(file, backing is null ? null : (_, _) => backing);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Opens an existing image for writing.</summary>
    /// <param name="path">The qcow2 image.</param>
    /// <param name="openBacking">
    /// Opens the backing file, given its path (resolved against the image's folder as qemu does) and its format from
    /// the header (null when the header does not say). Required when the image has a backing file.
    /// </param>
    /// <exception cref="FileNotFoundException">The image does not exist.</exception>
    /// <exception cref="BlockDeviceException">The image is not a qcow2 image the writer supports (ENOTSUP, EINVAL).</exception>
    /// <exception cref="Qcow2FormatException">The backing file name uses a protocol other than a local file.</exception>
    public static Qcow2WritableDevice Open(string path, Func<string, string?, IBlockDevice>? openBacking = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        var file = new HostFile(path, handle);
        try
        {
            return OpenOn(file, openBacking);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Grows the guest to <paramref name="newSize"/> bytes (rounded up to 512); the new range reads as zeroes.</summary>
    /// <exception cref="BlockDeviceException">The size is smaller than the current one (EINVAL): shrinking is not supported.</exception>
    public async ValueTask ResizeAsync(long newSize, CancellationToken cancellationToken = default)
    {
        newSize = (newSize + 511) & ~511L;
        if (newSize < Size)
        {
            throw new BlockDeviceException(EINVAL, $"{Path}: cannot shrink from {Size} to {newSize} bytes");
        }

        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var entries = ImageCreator.L1Entries(newSize, _clusterBits);
            if (entries > Qcow2Layout.MaxL1TableBytes / Qcow2Layout.TableEntrySize)
            {
                // qemu (and Engine's reader) refuse an L1 table over 32 MiB: such an image could not be opened again.
                throw new BlockDeviceException(EINVAL, $"{Path}: {newSize} bytes is too large an image (its L1 table would exceed {Qcow2Layout.MaxL1TableBytes} bytes)");
            }

            _map.Grow((int)entries, _refcounts);
            Volatile.Write(ref _size, newSize);
            _headerDirty = true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // fdatasync can take seconds on a busy disk; keep it off the caller's thread.
            await Task.Run(
                () =>
                {
                    FlushMetadata();
                    if (!_file.Barriers)
                    {
                        _file.SyncNow();
                    }
                },
                cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <inheritdoc />
    public ValueTask CacheAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, length, EINVAL, "cache");
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            // As qemu does on close: whatever was written becomes durable and referenced.
            await _lock.WaitAsync().ConfigureAwait(false);
            FlushMetadata();
        }
        finally
        {
            _file.Dispose();
            _lock.Dispose();
            if (_backing is not null)
            {
                await _backing.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static Qcow2WritableDevice OpenOn(HostFile file, Func<string, string?, IBlockDevice>? openBacking)
    {
        var header = new byte[HeaderLayout.Length];
        file.Read(0, header);
        Validate(file.Path, header, file.Length);
        var (backingFile, backingFormat) = ReadBacking(file, header);
        IBlockDevice? backing = null;
        if (backingFile is not null)
        {
            if (openBacking is null)
            {
                throw new BlockDeviceException(ENOTSUP, $"{file.Path}: has backing file '{backingFile}' but no way to open it was given");
            }

            backing = openBacking(BackingPaths.Resolve(file.Path, backingFile), backingFormat);
        }

        if (HeaderLayout.U64(header, HeaderLayout.AutoclearFeatures) != 0)
        {
            // Autoclear bits describe extensions (persistent bitmaps, raw external data) that writes here do not keep
            // up to date: clearing them tells qemu to ignore those extensions, as the specification asks.
            Span<byte> zero = stackalloc byte[8];
            file.Write(HeaderLayout.AutoclearFeatures, zero);
            file.Sync();
        }

        return new Qcow2WritableDevice(file, header, backing, backingFile);
    }

    private static void Validate(string path, ReadOnlySpan<byte> header, long fileLength)
    {
        if (!Qcow2Magic.Matches(header))
        {
            throw new BlockDeviceException(EINVAL, $"{path}: not a qcow2 image (no QFI magic at offset 0)");
        }

        var version = HeaderLayout.U32(header, HeaderLayout.Version);
        if (version != 3)
        {
            throw new BlockDeviceException(ENOTSUP, $"{path}: qcow2 version {version} images are not written by Engine (version 3 only; qemu-img amend -o compat=1.1 converts)");
        }

        var clusterBits = HeaderLayout.U32(header, HeaderLayout.ClusterBits);
        if (clusterBits is < Qcow2Layout.MinClusterBits or > Qcow2Layout.MaxClusterBits)
        {
            throw new BlockDeviceException(EINVAL, $"{path}: cluster bits {clusterBits} at offset {HeaderLayout.ClusterBits} are out of range (9 to 21)");
        }

        var incompatible = HeaderLayout.U64(header, HeaderLayout.IncompatibleFeatures);
        var refuse = incompatible switch
        {
            _ when (incompatible & HeaderLayout.DirtyBit) != 0 => "is marked dirty (lazy refcounts); repair it with qemu-img check -r all",
            _ when (incompatible & HeaderLayout.CorruptBit) != 0 => "is marked corrupt; repair it with qemu-img check -r all",
            _ when (incompatible & HeaderLayout.ExternalDataBit) != 0 => "keeps its data in an external file, which Engine does not write",
            _ when (incompatible & HeaderLayout.ExtendedL2Bit) != 0 => "has extended L2 entries (subclusters), which Engine does not write",
            _ when (incompatible & ~HeaderLayout.WritableIncompatible) != 0 => $"has unknown incompatible features 0x{incompatible:x}",
            _ => null,
        };
        refuse ??= HeaderLayout.U32(header, HeaderLayout.CryptMethod) != 0 ? "is encrypted" : null;
        refuse ??= HeaderLayout.U32(header, HeaderLayout.SnapshotCount) != 0 ? "has internal snapshots, which Engine does not write" : null;
        refuse ??= HeaderLayout.U32(header, HeaderLayout.RefcountOrder) != Qcow2Layout.DefaultRefcountOrder ? $"has refcount order {HeaderLayout.U32(header, HeaderLayout.RefcountOrder)}; Engine writes only order 4 (16-bit)" : null;
        if (refuse is not null)
        {
            throw new BlockDeviceException(ENOTSUP, $"{path}: {refuse}");
        }

        var size = HeaderLayout.U64(header, HeaderLayout.Size);
        var l1Size = HeaderLayout.U32(header, HeaderLayout.L1Size);
        var tableClusters = HeaderLayout.U32(header, HeaderLayout.RefcountTableClusters);
        if (size > long.MaxValue / 2 || (ulong)ImageCreator.L1Entries((long)size, (int)clusterBits) > l1Size || l1Size > Qcow2Layout.MaxL1TableBytes / Qcow2Layout.TableEntrySize)
        {
            throw new BlockDeviceException(EINVAL, $"{path}: L1 size {l1Size} does not fit guest size {size}");
        }

        var l1Offset = HeaderLayout.U64(header, HeaderLayout.L1TableOffset);
        var tableOffset = HeaderLayout.U64(header, HeaderLayout.RefcountTableOffset);
        var clusterMask = (1UL << (int)clusterBits) - 1;
        if ((l1Offset & clusterMask) != 0 || (tableOffset & clusterMask) != 0 || l1Offset >= (ulong)fileLength || tableOffset >= (ulong)fileLength
            || tableClusters == 0 || tableClusters > Math.Max(1, Qcow2Layout.MaxRefcountTableBytes >> (int)clusterBits))
        {
            throw new BlockDeviceException(EINVAL, $"{path}: the L1 table (at {l1Offset}) or refcount table (at {tableOffset}, {tableClusters} clusters) lies outside the file or is misaligned");
        }
    }

    private static (string? File, string? Format) ReadBacking(HostFile file, ReadOnlySpan<byte> header)
    {
        var offset = (long)HeaderLayout.U64(header, HeaderLayout.BackingFileOffset);
        var length = (int)HeaderLayout.U32(header, HeaderLayout.BackingFileSize);
        if (offset == 0)
        {
            return (null, null);
        }

        var clusterSize = 1 << (int)HeaderLayout.U32(header, HeaderLayout.ClusterBits);
        if (length is <= 0 or > 1023 || offset + length > clusterSize)
        {
            throw new BlockDeviceException(EINVAL, $"{file.Path}: backing file name at {offset} ({length} bytes) lies outside the header cluster");
        }

        var first = new byte[clusterSize];
        file.Read(0, first);
        var name = Encoding.UTF8.GetString(first, (int)offset, length);

        // Header extensions start after the header and run to a zero type; the backing format is one of them.
        var at = (int)HeaderLayout.U32(header, HeaderLayout.HeaderLength);
        string? format = null;
        while (at + 8 <= clusterSize)
        {
            var type = HeaderLayout.U32(first, at);
            var extLength = (int)HeaderLayout.U32(first, at + 4);
            if (type == 0 || extLength < 0 || at + 8 + (long)extLength > clusterSize)
            {
                break;
            }

            if (type == HeaderLayout.BackingFormatExtension)
            {
                format = Encoding.UTF8.GetString(first, at + 8, extLength);
            }

            at += 8 + ((extLength + 7) & ~7);
        }

        return (name, format);
    }

    private static ulong[] ReadTable(HostFile file, long offset, int entries, ulong mask)
    {
        var bytes = new byte[(long)entries * 8];
        file.Read(offset, bytes);
        var table = new ulong[entries];
        for (var i = 0; i < entries; i++)
        {
            table[i] = HeaderLayout.U64(bytes, i * 8) & mask;
        }

        return table;
    }

    private void CheckRange(long offset, long length, int errno, string operation)
    {
        ThrowIfDisposed();
        if (offset < 0 || length < 0 || offset > Size - length)
        {
            throw new BlockDeviceException(errno, $"{Path}: {operation} of {length} bytes at {offset} is outside the image ({Size} bytes)");
        }
    }

    /// <summary>The start of the cluster holding <paramref name="position"/>, and where the piece of <c>[position, end)</c> inside it ends.</summary>
    private (long ClusterStart, long End) Piece(long position, long end)
    {
        var clusterStart = position & ~(long)(_clusterSize - 1);
        return (clusterStart, Math.Min(end, clusterStart + _clusterSize));
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
