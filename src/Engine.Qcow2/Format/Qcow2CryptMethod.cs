namespace Engine.Qcow2.Format;

/// <summary>The header's <c>crypt_method</c>.</summary>
public enum Qcow2CryptMethod : uint
{
    /// <summary>Not encrypted.</summary>
    None = 0,

    /// <summary>The legacy AES-CBC method.</summary>
    Aes = 1,

    /// <summary>LUKS (with a full-disk-encryption header extension).</summary>
    Luks = 2,
}
