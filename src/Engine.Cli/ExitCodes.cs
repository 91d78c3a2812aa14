namespace Engine.Cli;

/// <summary>Exit codes shared by every command (sysexits-style, so scripts can tell causes apart).</summary>
internal static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>Runtime failure (I/O error, peer failure).</summary>
    public const int Failure = 1;

    /// <summary>Bad command-line usage.</summary>
    public const int Usage = 64;

    /// <summary>Invalid or hostile input data (a malformed archive, descriptor or image).</summary>
    public const int DataError = 65;

    /// <summary>An input file is missing or unreadable.</summary>
    public const int NoInput = 66;

    /// <summary>A socket or port could not be used.</summary>
    public const int Unavailable = 69;

    /// <summary>Stopped by SIGINT (128 + 2), after cleaning up.</summary>
    public const int Interrupted = 130;

    /// <summary>Stopped by SIGTERM (128 + 15), after cleaning up.</summary>
    public const int Terminated = 143;
}
