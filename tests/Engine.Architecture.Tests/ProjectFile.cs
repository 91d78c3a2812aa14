using System.Xml.Linq;

namespace Engine.Architecture.Tests;

/// <summary>
/// One project under src/, as its csproj declares it: the name (also its root namespace), the assembly it builds and
/// the projects it references directly.
/// </summary>
internal sealed record ProjectFile(string Name, string Path, string AssemblyName, IReadOnlyList<string> References)
{
    /// <summary>Every src/NAME/NAME.csproj of the checkout.</summary>
    public static IReadOnlyList<ProjectFile> ReadAll() =>
        Directory.GetDirectories(SourceTree.Src)
            .Select(dir => System.IO.Path.Combine(dir, System.IO.Path.GetFileName(dir) + ".csproj"))
            .Where(File.Exists)
            .Select(Read)
            .OrderBy(project => project.Name, StringComparer.Ordinal)
            .ToList();

    public static ProjectFile Read(string csproj)
    {
        var name = System.IO.Path.GetFileNameWithoutExtension(csproj);
        var xml = XDocument.Load(csproj);
        var assemblyName = xml.Descendants("AssemblyName").Select(e => e.Value.Trim()).LastOrDefault() ?? name;
        var references = xml.Descendants("ProjectReference")
            .Select(e => System.IO.Path.GetFileNameWithoutExtension(((string?)e.Attribute("Include") ?? "").Replace('\\', '/')))
            .OrderBy(reference => reference, StringComparer.Ordinal)
            .ToList();
        return new ProjectFile(name, csproj, assemblyName, references);
    }
}
