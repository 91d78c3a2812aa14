namespace Engine.Blocks;

/// <summary>An exception's message as a user may read it: without .NET's " (Parameter 'x')" suffix.</summary>
internal static class ExceptionText
{
    /// <summary>
    /// <paramref name="exception"/>'s message; for an <see cref="ArgumentException"/> the parameter name .NET appends
    /// is dropped, since it names a variable in our code, not anything the user typed.
    /// </summary>
    public static string Of(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception is ArgumentException { ParamName: { } name } argument
            ? argument.Message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal)
            : exception.Message;
    }
}
