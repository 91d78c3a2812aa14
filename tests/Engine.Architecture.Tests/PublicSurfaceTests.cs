using System.Xml.Linq;
using Mono.Cecil;

namespace Engine.Architecture.Tests;

/// <summary>
/// The packages' public surface (docs/embedding.md, "Public API and compatibility"). PublicAPI.*.txt record what is
/// public, so any change is a diff; these hold what those files cannot say: that the folders holding Engine's own
/// machinery stay internal whatever a regenerated list would accept, and that every InternalsVisibleTo grant reaches
/// an assembly that exists (a grant to a misspelt name compiles, and grants nothing).
/// </summary>
public sealed class PublicSurfaceTests
{
    /// <summary>Namespaces with no vendor API: the native layer, the shared plumbing and the NBD server's insides.</summary>
    public static TheoryData<string, string> InternalNamespaces => new()
    {
        { "Engine.Blocks", "Engine.Blocks.Native" },
        { "Engine.Blocks", "Engine.Blocks.Tar" },
        { "Engine.Blocks", "Engine.Blocks.Work" },
        { "Engine.Nbd", "Engine.Nbd.Server.Handshake" },
        { "Engine.Nbd", "Engine.Nbd.Server.Transmission" },
        { "Engine.Nbd", "Engine.Nbd.Server.Connections" },
    };

    [Theory]
    [MemberData(nameof(InternalNamespaces))]
    public void Engine_internal_namespaces_have_no_public_types(string assembly, string ns)
    {
        using var module = ModuleDefinition.ReadModule(Path.Combine(AppContext.BaseDirectory, assembly + ".dll"));
        var types = module.Types.Where(type => type.Namespace == ns).ToList();
        Assert.True(types.Count > 0, $"{assembly}: no type in {ns}; update {nameof(InternalNamespaces)} if it moved");

        var exposed = types.Where(type => type.IsPublic).Select(type => type.FullName).ToList();

        Assert.True(exposed.Count == 0, $"{assembly}: public types in {ns}, which vendors must not see:\n{string.Join('\n', exposed)}");
    }

    [Fact]
    public void InternalsVisibleTo_grants_name_assemblies_of_the_checkout()
    {
        var assemblies = Directory.EnumerateFiles(SourceTree.Root, "*.csproj", SearchOption.AllDirectories)
            .Select(csproj => ProjectFile.Read(csproj).AssemblyName)
            .ToHashSet(StringComparer.Ordinal);
        var granting = ProjectFile.ReadAll().Select(project => project.Path).Append(Path.Combine(SourceTree.Src, "Directory.Build.props"));

        var unknown = granting
            .SelectMany(file => XDocument.Load(file).Descendants("InternalsVisibleTo")
                .Select(grant => ((string?)grant.Attribute("Include") ?? "").Trim())
                .Where(name => !assemblies.Contains(name))
                .Select(name => $"{SourceTree.Relative(file)}: InternalsVisibleTo '{name}' is no project's assembly name"))
            .ToList();

        Assert.True(unknown.Count == 0, string.Join('\n', unknown));
    }
}
