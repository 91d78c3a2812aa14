namespace Engine.Architecture.Tests;

/// <summary>
/// The rules of docs/architecture.md held against the checkout: the csproj files, the built assemblies' IL and the
/// sources. Each failure message names the project, namespace, type or file:line that breaks a rule.
/// </summary>
public sealed class LayerTests
{
    public static TheoryData<string> ProjectNames => new(LayerRules.Projects.Select(rule => rule.Name));

    [Fact]
    public void Src_projects_reference_only_the_projects_below_them()
    {
        var violations = ProjectReferenceChecker.Check(LayerRules.Projects, ProjectFile.ReadAll());

        Assert.True(violations.Count == 0, string.Join('\n', violations));
    }

    [Theory]
    [MemberData(nameof(ProjectNames))]
    public void Namespaces_inside_the_project_point_down_its_declared_layers(string project)
    {
        var rule = LayerRules.Projects.Single(r => r.Name == project);
        var file = ProjectFile.ReadAll().SingleOrDefault(p => p.Name == project);
        Assert.True(file is not null, $"{project}: no src/{project}/{project}.csproj (docs/architecture.md names it)");
        var assembly = Path.Combine(AppContext.BaseDirectory, file.AssemblyName + ".dll");
        Assert.True(File.Exists(assembly),
            $"{project}: {file.AssemblyName}.dll is not in the test's output; Engine.Cli must reference it (directly or not)");

        var violations = NamespaceOrderChecker.Check(rule, NamespaceDependencyReader.Read(assembly, project), LayerRules.KnownExceptions);

        Assert.True(violations.Count == 0, string.Join('\n', violations));
    }

    [Fact]
    public void Known_exceptions_name_projects_of_the_table()
    {
        var unknown = LayerRules.KnownExceptions.Where(k => LayerRules.Projects.All(rule => rule.Name != k.Project)).ToList();

        Assert.Empty(unknown);
    }

    [Fact]
    public void PInvoke_is_declared_only_in_Engine_Blocks_Native()
    {
        // Tests and benchmarks too: they reach the native layer through InternalsVisibleTo. This project is left out,
        // because its checker tests spell P/Invoke declarations in strings on purpose.
        var roots = new[] { "src", "samples", "bench" }.Select(folder => Path.Combine(SourceTree.Root, folder))
            .Concat(Directory.GetDirectories(Path.Combine(SourceTree.Root, "tests"))
                .Where(folder => Path.GetFileName(folder) != "Engine.Architecture.Tests"));

        var outside = PInvokeScanner.FindOutside(SourceTree.Root, roots, LayerRules.NativeFolder);

        Assert.True(outside.Count == 0, $"P/Invoke outside {LayerRules.NativeFolder}:\n{string.Join('\n', outside)}");
    }
}
