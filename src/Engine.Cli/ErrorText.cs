namespace Engine.Cli;

/// <summary>
/// Says what went wrong in our own words where the runtime's text would leak: file errors ("Could not find a part of
/// the path …" repeats the path and varies between versions) and argument errors ("… (Parameter 'offset')").
/// </summary>
internal static class ErrorText
{
    /// <summary>The reason alone, for a caller that puts the file, export or socket in front.</summary>
    public static string Describe(Exception exception) => exception switch
    {
        FileNotFoundException or DirectoryNotFoundException => "no such file or directory",
        UnauthorizedAccessException => "permission denied",
        PathTooLongException => "path too long",
        _ => Blocks.ExceptionText.Of(exception),
    };

    /// <summary>
    /// The whole message, for a caller that does not know the subject: a missing file is named from the exception
    /// itself; Engine's own exceptions already name their file, export or snapshot and are kept as they are.
    /// </summary>
    public static string Full(Exception exception) => exception switch
    {
        FileNotFoundException { FileName: { } file } => $"{file}: no such file",
        _ => Blocks.ExceptionText.Of(exception),
    };
}
