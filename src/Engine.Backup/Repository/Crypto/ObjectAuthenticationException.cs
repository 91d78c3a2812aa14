namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// An encrypted object did not authenticate: its bytes were changed (any byte of header, nonce, body or tag), it was
/// moved to another object's key, or it was sealed under another key. AES-GCM cannot tell these apart, so the message
/// names all of them and the object.
/// </summary>
public sealed class ObjectAuthenticationException : RepositoryException
{
    /// <summary>The message's reason when the tag does not match.</summary>
    internal const string DoesNotAuthenticate = "ciphertext does not authenticate: tampered, or the wrong key";

    /// <summary>Creates the exception for the object at <paramref name="path"/> (store location and key).</summary>
    public ObjectAuthenticationException(string path, string reason = DoesNotAuthenticate, Exception? innerException = null)
        : base(path, reason, innerException)
    {
    }
}
