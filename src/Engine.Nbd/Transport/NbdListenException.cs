namespace Engine.Nbd.Transport;

/// <summary>
/// The server cannot listen where it was asked to: the address is taken, a live server owns the socket path, or the
/// path holds something other than a stale socket. The message names the address or path and the reason.
/// </summary>
public sealed class NbdListenException : IOException
{
    /// <summary>Creates the exception.</summary>
    public NbdListenException(string address, string message, Exception? innerException = null) : base(message, innerException) => Address = address;

    /// <summary>Creates the exception.</summary>
    public NbdListenException() : this(string.Empty, "cannot listen") { }

    /// <summary>Creates the exception.</summary>
    public NbdListenException(string message) : this(string.Empty, message) { }

    /// <summary>Creates the exception.</summary>
    public NbdListenException(string message, Exception innerException) : this(string.Empty, message, innerException) { }

    /// <summary>The Unix socket path or TCP endpoint that could not be used.</summary>
    public string Address { get; }
}
