using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// The printable recovery form of a master key: four lines of eight bytes in hex, grouped by two bytes, each with a
/// two-digit check (the first byte of SHA-256 of <c>"engine paper key" ‖ line number ‖ the line's bytes</c>), so a
/// typo is caught on the line it is in, plus the key's id, which checks the whole key once it is typed back.
/// <code>
/// 1: 0a1b 2c3d 4e5f 6071  c4
/// </code>
/// </summary>
public static class PaperKey
{
    private const int Lines = 4;
    private const int BytesPerLine = RepositoryKey.Length / Lines;
    private static readonly byte[] CheckLabel = Encoding.ASCII.GetBytes("engine paper key");

    /// <summary>The form of <paramref name="key"/>, made <paramref name="created"/>, as text to print.</summary>
    public static string Format(RepositoryKey key, DateTimeOffset created)
    {
        ArgumentNullException.ThrowIfNull(key);
        var text = new StringBuilder();
        text.Append("Engine repository key: paper backup\n");
        text.Append(CultureInfo.InvariantCulture, $"id:      {key.Id}\n");
        text.Append(CultureInfo.InvariantCulture, $"created: {created.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}\n");
        text.Append("Anyone holding this page can read the repository. Restore with:\n");
        text.Append("  engine key restore-paper --out FILE [--passphrase-file F] PAGE\n\n");
        var material = key.Material;
        for (var line = 1; line <= Lines; line++)
        {
            var bytes = material.Slice((line - 1) * BytesPerLine, BytesPerLine);
            text.Append(CultureInfo.InvariantCulture, $"{line}:");
            for (var group = 0; group < BytesPerLine; group += 2)
            {
                text.Append(' ').Append(Convert.ToHexStringLower(bytes.Slice(group, 2)));
            }

            text.Append(CultureInfo.InvariantCulture, $"  {Check(line, bytes):x2}\n");
        }

        return text.ToString();
    }

    /// <summary>
    /// Reads a form back (typed or scanned: case, spacing and any text besides the numbered lines do not matter).
    /// <paramref name="source"/> names it in errors; <paramref name="created"/> is the form's date when it has one.
    /// </summary>
    /// <exception cref="KeyFileException">A line is missing, malformed or fails its check, or the key does not match the form's id (<see cref="KeyFileProblem.Damaged"/>).</exception>
    public static RepositoryKey Parse(string text, string source, out DateTimeOffset? created)
    {
        ArgumentNullException.ThrowIfNull(text);
        created = null;
        string? id = null;
        Span<byte> key = stackalloc byte[RepositoryKey.Length];
        var seen = new bool[Lines + 1];
        try
        {
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.Trim();
                if (line.StartsWith("id:", StringComparison.OrdinalIgnoreCase))
                {
                    id = line[3..].Trim().ToLowerInvariant();
                }
                else if (line.StartsWith("created:", StringComparison.OrdinalIgnoreCase)
                    && DateTimeOffset.TryParse(line[8..].Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
                {
                    created = date;
                }
                else if (line.Length > 1 && char.IsAsciiDigit(line[0]) && line[1] == ':')
                {
                    var number = line[0] - '0';
                    if (number is < 1 or > Lines)
                    {
                        throw Damaged(source, $"line {number}: a paper key has lines 1 to {Lines}");
                    }

                    ParseLine(line[2..], number, key.Slice((number - 1) * BytesPerLine, BytesPerLine), source);
                    seen[number] = true;
                }
            }

            for (var number = 1; number <= Lines; number++)
            {
                if (!seen[number])
                {
                    throw Damaged(source, $"line {number} is missing");
                }
            }

            var restored = RepositoryKey.FromBytes(key);
            if (id is not null && id != restored.Id)
            {
                restored.Dispose();
                throw Damaged(source, $"every line checks, but the key's id is {restored.Id}, not {id} as the form says");
            }

            return restored;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static void ParseLine(string line, int number, Span<byte> destination, string source)
    {
        var digits = new StringBuilder();
        foreach (var c in line)
        {
            if (char.IsAsciiHexDigit(c))
            {
                digits.Append(c);
            }
            else if (!char.IsWhiteSpace(c))
            {
                throw Damaged(source, $"line {number}: '{c}' is not a hex digit");
            }
        }

        if (digits.Length != (BytesPerLine + 1) * 2)
        {
            throw Damaged(source, $"line {number}: {digits.Length} hex digits, {BytesPerLine * 2} and a 2-digit check expected");
        }

        var bytes = Convert.FromHexString(digits.ToString());
        bytes.AsSpan(0, BytesPerLine).CopyTo(destination);
        if (Check(number, destination) != bytes[BytesPerLine])
        {
            throw Damaged(source, $"line {number}: the check {bytes[BytesPerLine]:x2} does not match: a typo in this line");
        }

        CryptographicOperations.ZeroMemory(bytes);
    }

    private static byte Check(int line, ReadOnlySpan<byte> bytes)
    {
        Span<byte> input = stackalloc byte[CheckLabel.Length + 1 + BytesPerLine];
        CheckLabel.CopyTo(input);
        input[CheckLabel.Length] = (byte)line;
        bytes.CopyTo(input[(CheckLabel.Length + 1)..]);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input, hash);
        return hash[0];
    }

    private static KeyFileException Damaged(string source, string reason) =>
        new(source, KeyFileProblem.Damaged, $"{source}: not a valid paper key: {reason}");
}
