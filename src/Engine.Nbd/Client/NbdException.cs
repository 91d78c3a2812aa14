using Engine.Nbd.Protocol;

namespace Engine.Nbd.Client;

/// <summary>Base of every failure the NBD client reports.</summary>
public class NbdException : IOException
{
    /// <summary>Creates the exception.</summary>
    public NbdException(string message, Exception? innerException = null) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public NbdException() : base("NBD failure") { }

    /// <summary>Creates the exception.</summary>
    public NbdException(string message) : base(message) { }
}

/// <summary>The server answered a request with an error; carries the NBD errno.</summary>
public sealed class NbdServerErrorException : NbdException
{
    /// <summary>Creates the exception.</summary>
    public NbdServerErrorException(NbdError error, string message) : base(message)
    {
        Error = error;
        HResult = (int)error;
    }

    /// <summary>Creates the exception.</summary>
    public NbdServerErrorException() : this(NbdError.Io, "server error") { }

    /// <summary>Creates the exception.</summary>
    public NbdServerErrorException(string message) : this(NbdError.Io, message) { }

    /// <summary>Creates the exception.</summary>
    public NbdServerErrorException(string message, Exception innerException) : base(message, innerException) => Error = NbdError.Io;

    /// <summary>The error value (equal to the Linux errno: EPERM 1, EIO 5, EINVAL 22, ENOSPC 28, ENOTSUP 95, ...).</summary>
    public NbdError Error { get; }

    /// <summary>The error as a Linux errno.</summary>
    public int Errno => (int)Error;
}

/// <summary>The connection broke, timed out or the server broke the protocol; requests in flight fail with this.</summary>
public class NbdConnectionException : NbdException
{
    /// <summary>Creates the exception.</summary>
    public NbdConnectionException(string message, Exception? innerException = null) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public NbdConnectionException() : base("NBD connection failed") { }

    /// <summary>Creates the exception.</summary>
    public NbdConnectionException(string message) : base(message) { }
}

/// <summary>
/// The server could not be reached: nothing listens, the socket file does not exist, the address did not answer in
/// time, or the server hung up before its greeting. Nothing was negotiated. The message names the socket or address.
/// </summary>
public sealed class NbdConnectException : NbdConnectionException
{
    /// <summary>Creates the exception.</summary>
    public NbdConnectException(NbdUri uri, string message, Exception? innerException = null) : base(message, innerException) => Uri = uri;

    /// <summary>Creates the exception.</summary>
    public NbdConnectException() : base("cannot connect to the NBD server") { }

    /// <summary>Creates the exception.</summary>
    public NbdConnectException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public NbdConnectException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Where the client tried to connect; null when not known.</summary>
    public NbdUri? Uri { get; }
}
