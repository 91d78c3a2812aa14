using System.CommandLine;
using Engine.Blocks;

namespace Engine.Cli;

/// <summary>
/// The last resort for an exception no command handled: one line "engine COMMAND: message" on stderr and exit
/// <see cref="ExitCodes.Failure"/>, never a stack trace or .NET's "(Parameter 'x')" suffix. Setting the environment
/// variable <see cref="DebugVariable"/> to 1 prints the whole exception as well, for a bug report.
/// </summary>
internal static class UnexpectedError
{
    /// <summary>The environment variable that adds the stack trace.</summary>
    public const string DebugVariable = "ENGINE_DEBUG";

    /// <summary>Prints <paramref name="exception"/>, thrown while running <paramref name="parse"/>'s command; returns the exit code.</summary>
    public static int Report(ParseResult parse, Exception exception, TextWriter error)
    {
        var root = exception is AggregateException { InnerExceptions.Count: 1 } aggregate ? aggregate.InnerExceptions[0] : exception;
        var message = root switch
        {
            OperationCanceledException => "cancelled",
            _ => ExceptionText.Of(root),
        };
        error.WriteLine($"{CommandPath.Of(parse)}: {message}");
        if (Environment.GetEnvironmentVariable(DebugVariable) == "1")
        {
            error.WriteLine(exception.ToString());
        }

        return ExitCodes.Failure;
    }
}
