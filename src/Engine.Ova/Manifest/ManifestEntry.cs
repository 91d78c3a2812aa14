using System.Security.Cryptography;

namespace Engine.Ova.Manifest;

/// <summary>One line of an OVF manifest: a file, the algorithm and the expected digest.</summary>
/// <param name="FileName">The file, relative to the manifest.</param>
/// <param name="Algorithm">SHA1, SHA256 or SHA512.</param>
/// <param name="Digest">The expected digest bytes.</param>
internal sealed record ManifestEntry(string FileName, HashAlgorithmName Algorithm, byte[] Digest)
{
    /// <summary>"SHA256:hex", for messages and JSON.</summary>
    public override string ToString() => $"{Algorithm.Name}:{Convert.ToHexStringLower(Digest)}";
}
