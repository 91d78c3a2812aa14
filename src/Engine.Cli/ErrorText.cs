namespace Engine.Cli;

/// <summary>
/// Says what went wrong in our own words where the runtime's text would leak: file errors ("Could not find a part of
/// the path …" repeats the path and varies between versions) and argument errors ("… (Parameter 'offset')"). The
/// caller puts the file, export or socket in front.
/// </summary>
internal static class ErrorText
{
    public static string Describe(Exception exception) => exception switch
    {
        FileNotFoundException or DirectoryNotFoundException => "no such file or directory",
        UnauthorizedAccessException => "permission denied",
        PathTooLongException => "path too long",
        _ => Blocks.ExceptionText.Of(exception),
    };
}
