using System.CommandLine;
using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Blocks.Native;
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

    /// <summary>Formats a local source may be named as (<c>--format</c>): without it, qcow2 is recognised by its magic.</summary>
    public static readonly string[] InputFormats = ["raw", "qcow2"];

    /// <summary>The reader options for an image recognised only by its magic: it may name no other file.</summary>
    private static readonly Qcow2ReaderOptions Probed = new() { ExternalFiles = Qcow2ExternalFiles.None };

    /// <summary>The <c>--format raw|qcow2</c> option of commands that read local images.</summary>
    public static Option<string?> FormatOption(string what)
    {
        var option = new Option<string?>("--format", "-f")
        {
            Description = $"Format of {what}: raw or qcow2. Without it a qcow2 image is recognised by its magic, read-only and without following a backing or external data file.",
        };
        option.AcceptOnlyFromAmong(InputFormats);
        return option;
    }

    /// <summary>
    /// Whether <paramref name="path"/> is read as qcow2: by <paramref name="format"/>, else by its magic (device nodes
    /// never are; anything unreadable is left to the raw open to report).
    /// </summary>
    public static bool IsQcow2(string path, string? format) => format is not null ? format == "qcow2" : Qcow2BlockDevice.IsQcow2(path);

    /// <summary>
    /// Opens a qcow2 image read-only through the reader. With <paramref name="formatGiven"/> its backing chain and
    /// external data file are followed (regular files only); without, it was recognised by its magic alone, and may be
    /// a raw disk whose guest wrote a qcow2 header naming host files, so an image that names another file is refused.
    /// </summary>
    /// <exception cref="Qcow2FormatException">The image is malformed, or (probed) names another file: the message says to pass --format qcow2.</exception>
    public static Qcow2BlockDevice OpenReader(string path, bool formatGiven)
    {
        try
        {
            return Qcow2BlockDevice.Open(path, formatGiven ? Qcow2ReaderOptions.Default : Probed);
        }
        catch (Qcow2ExternalFileException ex)
        {
            throw new Qcow2FormatException(ex.ImagePath, ex.Offset, $"{ex.What}; pass --format qcow2 to follow '{ex.FileName}'", ex);
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
            return Qcow2WritableDevice.Open(path, (backing, format) => Qcow2BlockDevice.OpenBacking(backing, format));
        }
        catch (BlockDeviceException e) when (e.Errno == 95)
        {
            throw new BlockDeviceException(e.Errno, $"{e.Message}; --read-only serves it through the reader", e);
        }
    }

    /// <summary>
    /// Creates a qcow2 image of <paramref name="size"/> bytes to be written whole and then put in place of
    /// <paramref name="path"/> by <see cref="MoveIntoPlace"/>: it is written under <paramref name="temporary"/>, a new
    /// name in the same folder, so that nothing already at <paramref name="path"/> is removed before the copy is done.
    /// Only a regular file (or nothing) may be there: a device node, a directory or a FIFO is refused, never unlinked.
    /// </summary>
    /// <exception cref="IOException">Something other than a regular file is at <paramref name="path"/> (the message names it).</exception>
    public static Qcow2WritableDevice CreateTarget(string path, long size, out string temporary)
    {
        if (LibC.TryLStat(path, LibC.STATX_TYPE, out var stat, out var errno))
        {
            if (!stat.IsRegularFile)
            {
                throw new IOException($"{path} exists and is not a regular file; a qcow2 target is only created as, or in place of, a regular file");
            }
        }
        else if (errno != Errno.ENOENT)
        {
            throw new IOException($"{path}: {LibC.StrError(errno)}");
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        temporary = Path.Combine(folder, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        return Qcow2WritableDevice.Create(temporary, new Qcow2CreateOptions { Size = size, Conversion = true });
    }

    /// <summary>Renames the finished temporary image over <paramref name="path"/> (rename(2): the old file stays whole until then).</summary>
    public static void MoveIntoPlace(string temporary, string path) => File.Move(temporary, path, overwrite: true);

    /// <summary>
    /// Opens a copy source that is a local file: a qcow2 image (by <paramref name="format"/>, else by its magic; see
    /// <see cref="OpenReader"/>) as its guest disk through the reader; anything else as raw bytes.
    /// </summary>
    /// <exception cref="Qcow2FormatException">The image or its chain is malformed or uses what Engine refuses.</exception>
    public static IBlockDevice OpenSource(string path, string? format) =>
        IsQcow2(path, format) ? OpenReader(path, format is not null) : FileBlockDevice.Open(path, new FileBlockDeviceOptions { ReadOnly = true });

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
}
