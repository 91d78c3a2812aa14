namespace Engine.Provider.Protocol;

/// <summary>A request the provider protocol cannot carry out as written (unknown method, missing parameter).</summary>
public sealed class ProtocolException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ProtocolException()
    {
    }

    /// <summary>Creates the exception with a message naming the problem.</summary>
    public ProtocolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public ProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
