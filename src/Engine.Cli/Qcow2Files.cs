using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Qcow2.Format;
using Engine.Qcow2.Reading;
using Engine.Qcow2.Writing;
using Microsoft.Win32.SafeHandles;

namespace Engine.Cli;

/// <summary>
/// Where the commands meet qcow2 files: recognising them by their magic, opening them for writing (with their backing
/// file), and creating them as copy, restore and import targets.
/// </summary>
internal static class Qcow2Files
{
    /// <summary>Output formats the commands that write images accept.</summary>
    public static readonly string[] OutputFormats = ["raw", "qcow2"];

    /// <summary>
    /// Whether <paramref name="path"/> is a file that starts with the qcow2 magic; anything unreadable is left to the
    /// raw open to report. Device nodes are never images.
    /// </summary>
    public static bool IsQcow2(string path)
    {
        if (path.StartsWith("/dev/", StringComparison.Ordinal))
        {
            return false;
        }

        try
        {
            // Opened without blocking, so a FIFO cannot hang the probe.
            using var file = ImageFile.Open(path);
            Span<byte> magic = stackalloc byte[4];
            return file.ReadAt(0, magic) == magic.Length && Qcow2Magic.Matches(magic);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Whether a copy to <paramref name="spec"/> writes qcow2: by <c>--dst-format</c>, else by a <c>.qcow2</c> name.</summary>
    public static bool IsQcow2Target(string spec, string? format) =>
        format is not null ? format == "qcow2" : spec.EndsWith(".qcow2", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Opens an existing qcow2 image for writing (<c>engine serve</c>), its backing file read-only. The reader opens
    /// the whole chain first, so a malformed or hostile image is refused with its checks and messages before the
    /// writer touches anything.
    /// </summary>
    /// <exception cref="Qcow2FormatException">The image or its chain is malformed or hostile.</exception>
    /// <exception cref="BlockDeviceException">The writer cannot keep this image consistent (ENOTSUP), or an I/O error.</exception>
    public static Qcow2WritableDevice OpenWritable(string path)
    {
        Qcow2BlockDevice.Open(path).DisposeAsync().AsTask().GetAwaiter().GetResult();
        try
        {
            return Qcow2WritableDevice.Open(path, OpenBacking);
        }
        catch (BlockDeviceException e) when (e.Errno == 95)
        {
            throw new BlockDeviceException(e.Errno, $"{e.Message}; --read-only serves it through the reader", e);
        }
    }

    /// <summary>
    /// Creates a qcow2 image of <paramref name="size"/> bytes at <paramref name="path"/> to be written whole, replacing a
    /// regular file already there, as the raw targets are truncated.
    /// </summary>
    public static Qcow2WritableDevice CreateTarget(string path, long size)
    {
        if (File.Exists(path))
        {
            File.Delete(path);
        }

        return Qcow2WritableDevice.Create(path, new Qcow2CreateOptions { Size = size, Conversion = true });
    }

    /// <summary>
    /// Opens a copy source that is a local file: a qcow2 image (recognised by its magic) as its guest disk through
    /// the reader, with its backing chain; anything else as raw bytes.
    /// </summary>
    /// <exception cref="Qcow2FormatException">The image or its chain is malformed or uses what Engine refuses.</exception>
    public static IBlockDevice OpenSource(string path) =>
        IsQcow2(path) ? Qcow2BlockDevice.Open(path) : FileBlockDevice.Open(path, new FileBlockDeviceOptions { ReadOnly = true });

    /// <summary>
    /// Writes a new qcow2 image of <paramref name="size"/> bytes, to be written whole, into an empty file the caller
    /// created (and opened write-only, as a restore does: the writer also reads its tables back, so the file is opened
    /// again for both, and the caller's handle closed).
    /// </summary>
    public static IBlockDevice CreateOn(SafeFileHandle handle, string path, long size)
    {
        ArgumentNullException.ThrowIfNull(handle);
        handle.Dispose();
        return CreateInEmpty(path, size);
    }

    /// <summary>Writes a new qcow2 image of <paramref name="size"/> bytes, to be written whole, into the empty file at <paramref name="path"/> (an import's temporary file).</summary>
    public static IBlockDevice CreateInEmpty(string path, long size) =>
        Qcow2WritableDevice.Create(File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read), path, new Qcow2CreateOptions { Size = size, Conversion = true });

    /// <summary>Opens a backing file read-only: a qcow2 one (named so, or recognised) through the reader, raw files as they are.</summary>
    private static IBlockDevice OpenBacking(string path, string? format)
    {
        if (format == "qcow2" || (format is null && IsQcow2(path)))
        {
            return Qcow2BlockDevice.Open(path);
        }

        if (format is not (null or "raw"))
        {
            throw new BlockDeviceException(95, $"{path}: backing format '{format}' is not supported (raw)");
        }

        return FileBlockDevice.Open(path, new FileBlockDeviceOptions { ReadOnly = true });
    }
}
