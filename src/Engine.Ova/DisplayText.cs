using System.Globalization;
using System.Text;

namespace Engine.Ova;

/// <summary>
/// Text from an archive made safe to print: names and ids come from whoever built the OVA, and an escape sequence
/// in a message could rewrite the terminal (or a log viewer) the operator reads it on.
/// </summary>
internal static class DisplayText
{
    /// <summary>The text with control characters shown as <c>\uXXXX</c>.</summary>
    public static string Printable(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.AsSpan().ContainsAnyInRange('\0', '\u001f') && !text.AsSpan().ContainsAnyInRange('\u007f', '\u009f'))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (char.IsControl(c) && c != '\n')
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
