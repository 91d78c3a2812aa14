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

    private static Qcow2BlockDevice OpenChain(string path, Qcow2ReaderOptions options, HashSet<(ulong, ulong)> chain, int length)
    {
        var image = Qcow2Image.Open(path);
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

        string format;
        using (var file = OpenBackingFile(image, name, backingPath))
        {
            if (chain.Contains(file.Identity))
            {
                throw new Qcow2FormatException(image.Path, nameOffset,
                    $"backing file '{name}' ({backingPath}) is already in the chain: the backing chain loops");
            }

            format = image.BackingFormat ?? Probe(file);
        }

        return format switch
        {
            Qcow2FormatName => OpenChain(backingPath, options, chain, length + 1),
            RawFormatName => FileBlockDevice.Open(backingPath, new FileBlockDeviceOptions { ReadOnly = true }),
            _ => throw new Qcow2FormatException(image.Path, image.ExtensionsOffset,
                $"backing file '{name}' has format '{format}'; Engine reads qcow2 and raw backing files"),
        };
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
    private static string Probe(ImageFile file)
    {
        Span<byte> magic = stackalloc byte[4];
        return file.ReadAt(0, magic) == magic.Length && Qcow2Magic.Matches(magic) ? Qcow2FormatName : RawFormatName;
    }
}
