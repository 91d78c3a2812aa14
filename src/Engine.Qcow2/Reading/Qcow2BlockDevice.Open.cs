using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Qcow2.Format;

namespace Engine.Qcow2.Reading;

/// <summary>Opening an image and its backing chain.</summary>
public sealed partial class Qcow2BlockDevice
{
    private const string Qcow2FormatName = "qcow2";
    private const string RawFormatName = "raw";

    /// <summary>Opens the qcow2 image at <paramref name="path"/> read-only, with its whole backing chain.</summary>
    /// <param name="path">The image file.</param>
    /// <param name="options">Limits; <see cref="Qcow2ReaderOptions.Default"/> when null.</param>
    /// <exception cref="Qcow2FormatException">An image of the chain is malformed, hostile or uses what Engine refuses (encryption, unknown
    /// incompatible features, another backing format or protocol); the chain loops or is too long.</exception>
    /// <exception cref="FileNotFoundException">The image or a backing file does not exist (the message names the image that names it).</exception>
    /// <exception cref="UnauthorizedAccessException">The image cannot be read.</exception>
    /// <exception cref="IOException">Another I/O failure.</exception>
    public static Qcow2BlockDevice Open(string path, Qcow2ReaderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return OpenChain(path, options ?? Qcow2ReaderOptions.Default, [], 1);
    }

    /// <summary>
    /// Opens <paramref name="path"/> as the backing file of an image: as qcow2 (with its own chain) when
    /// <paramref name="format"/> says so, or when it is null and the file starts with the qcow2 magic; else as raw
    /// bytes, read-only. The file is opened once: the descriptor whose kind was checked is the one read.
    /// </summary>
    /// <param name="path">The backing file, resolved against the image's directory.</param>
    /// <param name="format">The backing format the image names, or null to probe.</param>
    /// <param name="options">Limits and which files may be followed; <see cref="Qcow2ReaderOptions.Default"/> when null.</param>
    /// <exception cref="Qcow2FormatException">Another format than qcow2 or raw, a block device where the options allow only
    /// regular files, or a malformed qcow2 chain.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">Another I/O failure.</exception>
    public static IBlockDevice OpenBacking(string path, string? format, Qcow2ReaderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= Qcow2ReaderOptions.Default;
        var file = ImageFile.Open(path);
        Qcow2Image.CheckKind(file, path, -1, "the backing file", options.ExternalFiles);
        return OpenBackingAs(file, path, format ?? Probe(file), options, [], 1,
            f => new Qcow2FormatException(path, -1, $"backing format '{f}' is not supported; Engine reads qcow2 and raw backing files"));
    }

    /// <summary>Whether the file at <paramref name="path"/> starts with the qcow2 magic; device nodes never count, and
    /// anything unreadable is left to the open that follows to report.</summary>
    public static bool IsQcow2(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (path.StartsWith("/dev/", StringComparison.Ordinal))
        {
            return false;
        }

        try
        {
            // Opened without blocking, so a FIFO cannot hang the probe.
            using var file = ImageFile.Open(path);
            return file.StartsWithQcow2Magic();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static Qcow2BlockDevice OpenChain(string path, Qcow2ReaderOptions options, HashSet<(ulong, ulong)> chain, int length, ImageFile? file = null)
    {
        var image = Qcow2Image.Open(path, options.ExternalFiles, file);
        IBlockDevice? backing = null;
        try
        {
            chain.Add(image.File.Identity);
            string? backingPath = null;
            if (image.BackingName is { } name)
            {
                backingPath = BackingPaths.Resolve(image.Path, name);
                backing = OpenBacking(image, name, backingPath, options, chain, length);
            }

            return new Qcow2BlockDevice(image, backing, backingPath, options);
        }
        catch
        {
            backing?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            image.Dispose();
            throw;
        }
    }

    private static IBlockDevice OpenBacking(Qcow2Image image, string name, string backingPath, Qcow2ReaderOptions options,
        HashSet<(ulong, ulong)> chain, int length)
    {
        var nameOffset = (long)image.Header.BackingFileOffset;
        if (length >= options.MaxChainLength)
        {
            throw new Qcow2FormatException(image.Path, nameOffset,
                $"the backing chain is longer than {options.MaxChainLength} images (at backing file '{name}')");
        }

        var file = OpenBackingFile(image, name, backingPath);
        if (chain.Contains(file.Identity))
        {
            file.Dispose();
            throw new Qcow2FormatException(image.Path, nameOffset,
                $"backing file '{name}' ({backingPath}) is already in the chain: the backing chain loops");
        }

        Qcow2Image.CheckKind(file, image.Path, nameOffset, $"backing file '{name}' ({backingPath})", options.ExternalFiles);
        return OpenBackingAs(file, backingPath, image.BackingFormat ?? Probe(file), options, chain, length + 1,
            format => new Qcow2FormatException(image.Path, image.ExtensionsOffset,
                $"backing file '{name}' has format '{format}'; Engine reads qcow2 and raw backing files"));
    }

    /// <summary>
    /// The one dispatch on a backing format: qcow2 through the reader, raw as bytes. Takes <paramref name="file"/>
    /// over: a qcow2 image reads through it, a raw file is reopened through /proc/self/fd (the same inode, whatever the
    /// path names by now) and then closed.
    /// </summary>
    private static IBlockDevice OpenBackingAs(ImageFile file, string path, string format, Qcow2ReaderOptions options,
        HashSet<(ulong, ulong)> chain, int length, Func<string, Qcow2FormatException> unsupported)
    {
        if (format == Qcow2FormatName)
        {
            return OpenChain(path, options, chain, length, file);
        }

        using (file)
        {
            if (format != RawFormatName)
            {
                throw unsupported(format);
            }

            return FileBlockDevice.Open($"/proc/self/fd/{file.Handle.DangerousGetHandle()}", new FileBlockDeviceOptions { ReadOnly = true });
        }
    }

    private static ImageFile OpenBackingFile(Qcow2Image image, string name, string backingPath)
    {
        try
        {
            return ImageFile.Open(backingPath);
        }
        catch (FileNotFoundException ex)
        {
            throw new FileNotFoundException($"{image.Path}: backing file '{name}' ({backingPath}): no such file", backingPath, ex);
        }
        catch (DirectoryNotFoundException ex)
        {
            throw new FileNotFoundException($"{image.Path}: backing file '{name}' ({backingPath}): no such file", backingPath, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{image.Path}: backing file '{name}' ({backingPath}): {ExceptionText.Of(ex)}", ex);
        }
    }

    /// <summary>qemu's probe, reduced to what Engine reads: the qcow2 magic, else raw.</summary>
    private static string Probe(ImageFile file) => file.StartsWithQcow2Magic() ? Qcow2FormatName : RawFormatName;
}
