namespace Engine.Architecture.Tests;

/// <summary>
/// Checks the projects under src/ against the layer table: every project is in the table and every table entry is a
/// project, each references only what its entry allows, and the table itself has no cycle (so "allowed" can only
/// point down).
/// </summary>
internal static class ProjectReferenceChecker
{
    /// <summary>Every broken rule, one message each; empty when the projects follow the table.</summary>
    public static IReadOnlyList<string> Check(IReadOnlyList<ProjectRule> rules, IReadOnlyList<ProjectFile> projects)
    {
        var violations = new List<string>();
        var ruleByName = rules.ToDictionary(rule => rule.Name, StringComparer.Ordinal);
        var projectNames = projects.Select(project => project.Name).ToHashSet(StringComparer.Ordinal);

        foreach (var project in projects)
        {
            if (!ruleByName.TryGetValue(project.Name, out var rule))
            {
                violations.Add($"{project.Name}: not in the layer table (LayerRules.Projects); give it a place in the layers");
                continue;
            }

            var allowed = Below(rule, ruleByName);
            foreach (var reference in project.References.Where(reference => !allowed.Contains(reference)))
            {
                var names = allowed.Count == 0 ? "nothing" : string.Join(", ", allowed.Order(StringComparer.Ordinal));
                violations.Add($"{project.Name} references {reference}, but may reference only {names}");
            }
        }

        foreach (var rule in rules.Where(rule => !projectNames.Contains(rule.Name)))
        {
            violations.Add($"{rule.Name}: in the layer table but there is no src/{rule.Name}/{rule.Name}.csproj");
        }

        var allowedGraph = new DependencyGraph();
        foreach (var rule in rules)
        {
            allowedGraph.AddNode(rule.Name);
            foreach (var reference in rule.MayReference)
            {
                allowedGraph.AddEdge(rule.Name, reference, "allowed by the table");
            }
        }

        violations.AddRange(allowedGraph.FindCycles().Select(cycle => $"the layer table allows a cycle: {string.Join(" ↔ ", cycle)}"));
        return violations;
    }

    /// <summary>The projects below <paramref name="rule"/>: those it names and, recursively, those they name.</summary>
    private static HashSet<string> Below(ProjectRule rule, Dictionary<string, ProjectRule> ruleByName)
    {
        var below = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(rule.MayReference);
        while (pending.TryPop(out var name))
        {
            if (below.Add(name) && ruleByName.TryGetValue(name, out var lower))
            {
                foreach (var next in lower.MayReference)
                {
                    pending.Push(next);
                }
            }
        }

        return below;
    }
}
