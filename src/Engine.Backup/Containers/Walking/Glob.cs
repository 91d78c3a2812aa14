namespace Engine.Backup.Containers.Walking;

/// <summary>
/// <c>fnmatch(3)</c> without flags (so <c>*</c> and <c>?</c> match <c>/</c> and a leading dot): <c>*</c>, <c>?</c>,
/// bracket expressions with ranges and <c>!</c>/<c>^</c> negation, <c>\</c> escaping the next character. A
/// malformed bracket (no closing <c>]</c>) matches a literal <c>[</c>. Linear in practice: on a mismatch it backtracks
/// to the most recent <c>*</c> only.
/// </summary>
internal static class Glob
{
    public static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0;
        int starPattern = -1, starText = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length)
            {
                var c = pattern[p];
                if (c == '*')
                {
                    starPattern = ++p;
                    starText = t;
                    continue;
                }

                if (c == '?')
                {
                    p++;
                    t += CharLength(text, t);
                    continue;
                }

                if (c == '[' && TryMatchBracket(pattern, p, text, t, out var bracketEnd, out var matched))
                {
                    if (matched)
                    {
                        p = bracketEnd;
                        t += CharLength(text, t);
                        continue;
                    }
                }
                else
                {
                    if (c == '\\' && p + 1 < pattern.Length)
                    {
                        c = pattern[++p];
                    }

                    if (c == text[t])
                    {
                        p++;
                        t++;
                        continue;
                    }
                }
            }

            if (starPattern < 0)
            {
                return false;
            }

            // Let the last star swallow one more character and retry from there.
            p = starPattern;
            starText += CharLength(text, starText);
            t = starText;
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    /// <summary>
    /// Matches the bracket expression starting at <paramref name="open"/> against the character at
    /// <paramref name="t"/>; false when the bracket is not closed (then <c>[</c> is literal).
    /// </summary>
    private static bool TryMatchBracket(ReadOnlySpan<char> pattern, int open, ReadOnlySpan<char> text, int t, out int end, out bool matched)
    {
        end = 0;
        matched = false;
        var i = open + 1;
        var negate = i < pattern.Length && pattern[i] is '!' or '^';
        if (negate)
        {
            i++;
        }

        var character = CodePoint(text, t);
        var first = true;
        var found = false;
        while (i < pattern.Length && (first || pattern[i] != ']'))
        {
            first = false;
            var low = ReadClassChar(pattern, ref i);
            var high = low;
            if (i + 1 < pattern.Length && pattern[i] == '-' && pattern[i + 1] != ']')
            {
                i++;
                high = ReadClassChar(pattern, ref i);
            }

            found |= character >= low && character <= high;
        }

        if (i >= pattern.Length)
        {
            return false;
        }

        end = i + 1;
        matched = found != negate;
        return true;
    }

    private static int ReadClassChar(ReadOnlySpan<char> pattern, ref int i)
    {
        if (pattern[i] == '\\' && i + 1 < pattern.Length)
        {
            i++;
        }

        var value = CodePoint(pattern, i);
        i += CharLength(pattern, i);
        return value;
    }

    /// <summary>A surrogate pair is one character to <c>?</c> and brackets.</summary>
    private static int CharLength(ReadOnlySpan<char> text, int index) =>
        index + 1 < text.Length && char.IsHighSurrogate(text[index]) && char.IsLowSurrogate(text[index + 1]) ? 2 : 1;

    private static int CodePoint(ReadOnlySpan<char> text, int index) =>
        CharLength(text, index) == 2 ? char.ConvertToUtf32(text[index], text[index + 1]) : text[index];
}
