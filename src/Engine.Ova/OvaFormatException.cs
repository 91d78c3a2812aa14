namespace Engine.Ova;

/// <summary>
/// The archive, descriptor, manifest or disk image is malformed or hostile (truncated, lying about sizes, pointing
/// outside itself). The message names the member and, where it helps, the offset.
/// </summary>
public sealed class OvaFormatException : Exception
{
    /// <summary>Creates the exception with a message that names the offending member or field.</summary>
    public OvaFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the underlying cause.</summary>
    public OvaFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
