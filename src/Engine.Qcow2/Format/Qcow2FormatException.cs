namespace Engine.Qcow2.Format;

/// <summary>
/// A qcow2 image is malformed, hostile or uses a feature Engine refuses (encryption, unknown incompatible bits). The
/// message names the file, the byte offset in it and what is wrong there.
/// </summary>
public sealed class Qcow2FormatException : Exception
{
    /// <summary>Creates the exception; the message is "<paramref name="source"/>: at offset N: <paramref name="what"/>".</summary>
    /// <param name="source">The image file (or another name for messages); null when unknown.</param>
    /// <param name="offset">Byte offset in the file of the offending structure or field, or -1 when none applies.</param>
    /// <param name="what">What is wrong there.</param>
    public Qcow2FormatException(string? source, long offset, string what)
        : base(Describe(source, offset, what))
    {
        ImagePath = source;
        Offset = offset;
        What = what;
    }

    /// <summary>Creates the exception with the underlying cause (an inflate failure, an I/O error).</summary>
    public Qcow2FormatException(string? source, long offset, string what, Exception innerException)
        : base(Describe(source, offset, what), innerException)
    {
        ImagePath = source;
        Offset = offset;
        What = what;
    }

    /// <summary>The image file the problem is in, if known.</summary>
    public string? ImagePath { get; }

    /// <summary>Byte offset in the file of the offending structure, or -1.</summary>
    public long Offset { get; }

    /// <summary>What is wrong, without the file and offset.</summary>
    public string What { get; }

    /// <summary>The same problem named in <paramref name="source"/>, for a parser that did not know the file.</summary>
    public Qcow2FormatException InFile(string source, long baseOffset = 0) =>
        new(source, Offset < 0 ? Offset : baseOffset + Offset, What, this);

    private static string Describe(string? source, long offset, string what) =>
        (source, offset) switch
        {
            (null, < 0) => what,
            (null, _) => $"at offset {offset}: {what}",
            (_, < 0) => $"{source}: {what}",
            _ => $"{source}: at offset {offset}: {what}",
        };
}
