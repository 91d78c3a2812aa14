namespace Engine.Architecture.Tests;

/// <summary>
/// The checkers fail when they should: each is fed a small made-up project, graph or source that breaks one rule.
/// Without these, a checker that never complains would pass <see cref="LayerTests"/> as well.
/// </summary>
public sealed class CheckerTests : IDisposable
{
    private static readonly ProjectRule Sample = new("Engine.Sample", [],
    [
        [""],
        ["Low", "Other"],
        ["High"],
    ]);

    private readonly string _dir = Directory.CreateTempSubdirectory("engine-architecture-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Dependency_graph_finds_a_cycle_of_three_and_only_that()
    {
        var graph = new DependencyGraph();
        graph.AddEdge("A", "B", "a uses b");
        graph.AddEdge("B", "C", "b uses c");
        graph.AddEdge("C", "A", "c uses a");
        graph.AddEdge("C", "D", "c uses d");

        var cycle = Assert.Single(graph.FindCycles());
        Assert.Equal(["A", "B", "C"], cycle);
    }

    [Fact]
    public void Namespaces_that_point_down_pass()
    {
        var graph = Graph(("Engine.Sample.High", "Engine.Sample.Low"), ("Engine.Sample.Low", "Engine.Sample"), ("Engine.Sample.Other", "Engine.Sample"));

        Assert.Empty(NamespaceOrderChecker.Check(Sample, graph, []));
    }

    [Fact]
    public void A_namespace_cycle_fails_naming_its_members()
    {
        var graph = Graph(("Engine.Sample.High", "Engine.Sample.Low"), ("Engine.Sample.Low", "Engine.Sample.High"), ("Engine.Sample.Other", "Engine.Sample"));

        var violations = NamespaceOrderChecker.Check(Sample, graph, []);

        Assert.Contains("cycle: Engine.Sample.High ↔ Engine.Sample.Low", violations);
        Assert.Contains(violations, v => v.StartsWith("Engine.Sample.Low → Engine.Sample.High (", StringComparison.Ordinal)
            && v.EndsWith("Engine.Sample.High is declared above Engine.Sample.Low", StringComparison.Ordinal));
    }

    [Fact]
    public void A_dependency_between_peers_fails()
    {
        var graph = Graph(("Engine.Sample.Low", "Engine.Sample.Other"), ("Engine.Sample.High", "Engine.Sample"));

        var violation = Assert.Single(NamespaceOrderChecker.Check(Sample, graph, []));
        Assert.EndsWith("peers in one layer must not use each other", violation, StringComparison.Ordinal);
    }

    [Fact]
    public void The_root_namespace_using_a_child_fails()
    {
        var graph = Graph(("Engine.Sample", "Engine.Sample.Low"), ("Engine.Sample.High", "Engine.Sample.Other"));

        var violation = Assert.Single(NamespaceOrderChecker.Check(Sample, graph, []));
        Assert.StartsWith("Engine.Sample → Engine.Sample.Low", violation, StringComparison.Ordinal);
    }

    [Fact]
    public void A_known_exception_excuses_its_own_edge_only()
    {
        var known = new KnownException("Engine.Sample", "Engine.Sample.Low", "Engine.Sample.High", "issue 0", "made up");
        var graph = Graph(("Engine.Sample.Low", "Engine.Sample.High"), ("Engine.Sample.High", "Engine.Sample.Other"), ("Engine.Sample.Other", "Engine.Sample.High"));

        var violations = NamespaceOrderChecker.Check(Sample, graph, [known]);

        Assert.DoesNotContain(violations, v => v.StartsWith("Engine.Sample.Low →", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.StartsWith("Engine.Sample.Other → Engine.Sample.High", StringComparison.Ordinal));
        Assert.Contains("cycle: Engine.Sample.High ↔ Engine.Sample.Other", violations);
    }

    [Fact]
    public void A_known_exception_that_no_longer_occurs_fails_so_the_list_only_shrinks()
    {
        var known = new KnownException("Engine.Sample", "Engine.Sample.Low", "Engine.Sample.High", "issue 0", "made up");
        var graph = Graph(("Engine.Sample.High", "Engine.Sample.Low"), ("Engine.Sample.Other", "Engine.Sample"));

        var violation = Assert.Single(NamespaceOrderChecker.Check(Sample, graph, [known]));
        Assert.Contains("no longer occurs", violation, StringComparison.Ordinal);
    }

    [Fact]
    public void Undeclared_and_vanished_namespaces_fail()
    {
        var graph = new DependencyGraph();
        graph.AddEdge("Engine.Sample.High", "Engine.Sample.New", "made up");
        graph.AddEdge("Engine.Sample.Low", "Engine.Sample", "made up");

        var violations = NamespaceOrderChecker.Check(Sample, graph, []);

        Assert.Contains(violations, v => v.StartsWith("Engine.Sample.New: not declared", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.StartsWith("Engine.Sample.Other: declared", StringComparison.Ordinal));
    }

    [Fact]
    public void A_project_reference_up_or_across_the_layers_fails()
    {
        ProjectRule[] rules =
        [
            new("Engine.Blocks", [], [[""]]),
            new("Engine.Sources", ["Engine.Blocks"], [[""]]),
            new("Engine.Backup", ["Engine.Sources"], [[""]]),
            new("Engine.Provider", ["Engine.Sources"], [[""]]),
        ];
        ProjectFile[] projects =
        [
            Project("Engine.Blocks"),
            Project("Engine.Sources", "Engine.Blocks"),
            Project("Engine.Backup", "Engine.Sources", "Engine.Blocks"),
            Project("Engine.Provider", "Engine.Sources", "Engine.Backup"),
            Project("Engine.Extra"),
        ];

        var violations = ProjectReferenceChecker.Check(rules, projects);

        Assert.Equal(
            [
                "Engine.Provider references Engine.Backup, but may reference only Engine.Blocks, Engine.Sources",
                "Engine.Extra: not in the layer table (LayerRules.Projects); give it a place in the layers",
            ],
            violations);
    }

    [Fact]
    public void A_layer_table_with_a_cycle_fails()
    {
        ProjectRule[] rules = [new("Engine.A", ["Engine.B"], [[""]]), new("Engine.B", ["Engine.A"], [[""]])];

        var violations = ProjectReferenceChecker.Check(rules, [Project("Engine.A"), Project("Engine.B")]);

        Assert.Contains("the layer table allows a cycle: Engine.A ↔ Engine.B", violations);
    }

    [Fact]
    public void Csproj_reader_takes_references_and_assembly_name_from_the_file()
    {
        var path = Path.Combine(_dir, "Engine.Tool.csproj");
        File.WriteAllText(path, """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup><AssemblyName>tool</AssemblyName></PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="..\Engine.Nbd\Engine.Nbd.csproj" />
                <ProjectReference Include="../Engine.Blocks/Engine.Blocks.csproj" />
                <PackageReference Include="Engine.Backup" Version="1.0.0" />
              </ItemGroup>
            </Project>
            """);

        var project = ProjectFile.Read(path);

        Assert.Equal("Engine.Tool", project.Name);
        Assert.Equal("tool", project.AssemblyName);
        Assert.Equal(["Engine.Blocks", "Engine.Nbd"], project.References);
    }

    [Fact]
    public void PInvoke_outside_the_native_folder_is_found_and_comments_are_not()
    {
        var native = Directory.CreateDirectory(Path.Combine(_dir, "src", "Engine.Blocks", "Native")).FullName;
        var other = Directory.CreateDirectory(Path.Combine(_dir, "src", "Engine.Nbd", "Transport")).FullName;
        File.WriteAllText(Path.Combine(native, "LibC.cs"), "partial class LibC { [LibraryImport(\"libc\")] static partial int close(int fd); }\n");
        File.WriteAllText(Path.Combine(other, "Calls.cs"), """
            // [DllImport("libc")] in a comment is no declaration
            /* nor [LibraryImport("libc")]
               in a block comment */
            static class Calls
            {
                [System.Runtime.InteropServices.DllImportAttribute("libc", SetLastError = true)]
                static extern int send(int fd);
                [SuppressGCTransition, LibraryImport("libc")]
                static partial int recv(int fd);
            }
            """);

        var found = PInvokeScanner.FindOutside(_dir, [Path.Combine(_dir, "src")], "src/Engine.Blocks/Native");

        Assert.Equal(
            [
                "src/Engine.Nbd/Transport/Calls.cs:6: [System.Runtime.InteropServices.DllImportAttribute(\"libc\", SetLastError = true)]",
                "src/Engine.Nbd/Transport/Calls.cs:8: [SuppressGCTransition, LibraryImport(\"libc\")]",
            ],
            found);
    }

    [Fact]
    public void IL_reader_sees_a_parent_namespace_used_without_a_using_directive()
    {
        // FileBlockDevice (Engine.Blocks.Devices) implements IBlockDevice (Engine.Blocks) with no using directive:
        // a scan of the sources' using lines would miss this dependency, the IL does not.
        var graph = NamespaceDependencyReader.Read(Path.Combine(AppContext.BaseDirectory, "Engine.Blocks.dll"), "Engine.Blocks");

        Assert.Contains(graph.Edges, edge => edge.From == "Engine.Blocks.Devices" && edge.To == "Engine.Blocks");
        Assert.DoesNotContain(graph.Edges, edge => edge.From == "Engine.Blocks" && edge.To == "Engine.Blocks.Devices");
    }

    private static DependencyGraph Graph(params (string From, string To)[] edges)
    {
        var graph = new DependencyGraph();
        foreach (var ns in Sample.LayerOf().Keys)
        {
            graph.AddNode(ns);
        }

        foreach (var (from, to) in edges)
        {
            graph.AddEdge(from, to, "made up");
        }

        return graph;
    }

    private static ProjectFile Project(string name, params string[] references) => new(name, $"src/{name}/{name}.csproj", name, references);
}
