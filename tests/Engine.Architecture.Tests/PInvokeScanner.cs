using System.Text.RegularExpressions;

namespace Engine.Architecture.Tests;

/// <summary>
/// Finds P/Invoke declarations (<c>[DllImport]</c>, <c>[LibraryImport]</c>) in C# sources outside the one folder
/// allowed to hold them. Comments are skipped, so a remark that names the attribute is not a declaration.
/// </summary>
internal static partial class PInvokeScanner
{
    /// <summary>
    /// Each declaration in a .cs file under <paramref name="roots"/> (bin/ and obj/ left out) that is not under
    /// <paramref name="allowedFolder"/>, as "path:line: text", paths relative to <paramref name="baseDirectory"/>.
    /// </summary>
    public static IReadOnlyList<string> FindOutside(string baseDirectory, IEnumerable<string> roots, string allowedFolder)
    {
        var allowed = Path.GetFullPath(Path.Combine(baseDirectory, allowedFolder)) + Path.DirectorySeparatorChar;
        var found = new List<string>();
        foreach (var file in roots.Where(Directory.Exists)
                     .SelectMany(root => Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
                     .Where(file => !IsBuildOutput(file) && !Path.GetFullPath(file).StartsWith(allowed, StringComparison.Ordinal))
                     .Order(StringComparer.Ordinal))
        {
            var lines = WithoutComments(File.ReadAllText(file)).Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                if (Declaration().IsMatch(lines[i]))
                {
                    found.Add($"{Path.GetRelativePath(baseDirectory, file).Replace('\\', '/')}:{i + 1}: {lines[i].Trim()}");
                }
            }
        }

        return found;
    }

    private static bool IsBuildOutput(string file)
    {
        var separator = Path.DirectorySeparatorChar;
        return file.Contains($"{separator}obj{separator}", StringComparison.Ordinal)
            || file.Contains($"{separator}bin{separator}", StringComparison.Ordinal);
    }

    /// <summary>
    /// The text with // and /* */ comments blanked out (line breaks kept, so line numbers stay). A "//" inside a
    /// string (a URL) blanks the rest of that line, which can only hide code after it, never invent a declaration.
    /// </summary>
    internal static string WithoutComments(string source) =>
        Comment().Replace(source, match => new string(match.Value.Where(c => c == '\n').ToArray()));

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comment();

    // The attribute in any of its spellings: [DllImport(...)], [LibraryImport(...)], with the Attribute suffix, fully
    // qualified, or after other attributes in the same brackets.
    [GeneratedRegex(@"[\[,]\s*(?:global::)?(?:System\.Runtime\.InteropServices\.)?(?:DllImport|LibraryImport)(?:Attribute)?\s*[(\],]")]
    private static partial Regex Declaration();
}
