namespace Engine.Qcow2.Reading;

/// <summary>
/// An image names a backing file or external data file that <see cref="Qcow2ReaderOptions.ExternalFiles"/> does not
/// let the reader open. The message names the image, the offset of the name and the file.
/// </summary>
public sealed class Qcow2ExternalFileException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="imagePath">The image that names the file.</param>
    /// <param name="offset">Byte offset of the name (or of the field that announces it) in the image.</param>
    /// <param name="fileName">The name as stored in the image.</param>
    /// <param name="what">What is refused, without the image and offset.</param>
    public Qcow2ExternalFileException(string imagePath, long offset, string fileName, string what)
        : base($"{imagePath}: at offset {offset}: {what}")
    {
        ImagePath = imagePath;
        Offset = offset;
        FileName = fileName;
        What = what;
    }

    /// <summary>The image that names the file.</summary>
    public string ImagePath { get; }

    /// <summary>Byte offset of the name in the image.</summary>
    public long Offset { get; }

    /// <summary>The file name as stored in the image.</summary>
    public string FileName { get; }

    /// <summary>What is refused, without the image and offset.</summary>
    public string What { get; }
}
