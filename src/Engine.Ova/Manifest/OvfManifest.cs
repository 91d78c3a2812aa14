using System.Security.Cryptography;
using System.Text;
using Engine.Ova.Tar;

namespace Engine.Ova.Manifest;

/// <summary>
/// An OVF manifest (<c>.mf</c>): lines <c>SHA256(disk.vmdk)= hex</c> as ovftool writes them, or
/// <c>SHA256 (disk.vmdk) = hex</c> as <c>sha256sum --tag</c> does, CRLF tolerated.
/// </summary>
internal sealed class OvfManifest
{
    /// <summary>Largest manifest accepted.</summary>
    public const int MaxBytes = 1 << 20;

    private readonly Dictionary<string, ManifestEntry> _entries;

    private OvfManifest(string name, Dictionary<string, ManifestEntry> entries)
    {
        Name = name;
        _entries = entries;
    }

    /// <summary>The manifest's own member name.</summary>
    public string Name { get; }

    /// <summary>Entries by normalised file name.</summary>
    public IReadOnlyDictionary<string, ManifestEntry> Entries => _entries;

    /// <summary>The entry for a file (normalised name), or null if the manifest does not list it.</summary>
    public ManifestEntry? Find(string fileName) => _entries.GetValueOrDefault(fileName);

    /// <summary>Parses a manifest; names are resolved relative to <paramref name="directory"/> (the manifest's folder in the archive).</summary>
    /// <exception cref="OvaFormatException">A line is malformed, an algorithm is unknown, or a name appears twice.</exception>
    public static OvfManifest Parse(ReadOnlySpan<byte> data, string name, string directory)
    {
        if (data.Length > MaxBytes)
        {
            throw new OvaFormatException($"{name}: manifest is {data.Length} bytes, more than the {MaxBytes}-byte limit");
        }

        var entries = new Dictionary<string, ManifestEntry>(StringComparer.Ordinal);
        var text = Encoding.UTF8.GetString(data);
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r').Trim();
            if (line.Length == 0)
            {
                continue;
            }

            var open = line.IndexOf('(', StringComparison.Ordinal);
            var close = line.LastIndexOf(')');
            var equals = close < 0 ? -1 : line.IndexOf('=', close);
            if (open <= 0 || close < open || equals < 0)
            {
                throw new OvaFormatException($"{name}: line {lineNumber} is not 'ALG(file)= digest': {Shorten(line)}");
            }

            var algorithm = line[..open].Trim().ToUpperInvariant() switch
            {
                "SHA1" => HashAlgorithmName.SHA1,
                "SHA256" => HashAlgorithmName.SHA256,
                "SHA512" => HashAlgorithmName.SHA512,
                var other => throw new OvaFormatException($"{name}: line {lineNumber}: unsupported digest algorithm '{Shorten(other)}' (SHA1, SHA256, SHA512)"),
            };
            var file = line[(open + 1)..close];
            var hex = line[(equals + 1)..].Trim();
            byte[] digest;
            try
            {
                digest = Convert.FromHexString(hex);
            }
            catch (FormatException)
            {
                throw new OvaFormatException($"{name}: line {lineNumber}: digest '{Shorten(hex)}' is not hexadecimal");
            }

            var expectedLength = algorithm == HashAlgorithmName.SHA1 ? 20 : algorithm == HashAlgorithmName.SHA256 ? 32 : 64;
            if (digest.Length != expectedLength)
            {
                throw new OvaFormatException($"{name}: line {lineNumber}: a {algorithm.Name} digest has {expectedLength} bytes, not {digest.Length}");
            }

            var normalized = TarNames.Normalize(directory.Length == 0 ? file : directory + "/" + file)
                ?? throw new OvaFormatException($"{name}: line {lineNumber}: '{Shorten(file)}' is not a relative path inside the package");
            if (!entries.TryAdd(normalized, new ManifestEntry(normalized, algorithm, digest)))
            {
                throw new OvaFormatException($"{name}: '{normalized}' is listed twice");
            }
        }

        return new OvfManifest(name, entries);
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "...";
}
