namespace Engine.Architecture.Tests;

/// <summary>
/// Checks one project's namespace graph against its declared order: every namespace is declared (and every declared
/// one exists), every dependency points to a lower layer, and no cycle is left once the known exceptions are taken
/// out. A known exception that no longer occurs is reported too, so the list of them can only shrink.
/// </summary>
internal static class NamespaceOrderChecker
{
    /// <summary>Every broken rule, one message each; empty when the project follows its order.</summary>
    public static IReadOnlyList<string> Check(ProjectRule rule, DependencyGraph graph, IReadOnlyList<KnownException> known)
    {
        var violations = new List<string>();
        var layerOf = rule.LayerOf();
        var present = graph.Nodes.ToHashSet(StringComparer.Ordinal);

        violations.AddRange(present.Where(ns => !layerOf.ContainsKey(ns)).Order(StringComparer.Ordinal)
            .Select(ns => $"{ns}: not declared in {rule.Name}'s namespace layers (LayerRules.Projects); give it a layer"));
        violations.AddRange(layerOf.Keys.Where(ns => !present.Contains(ns)).Order(StringComparer.Ordinal)
            .Select(ns => $"{ns}: declared in {rule.Name}'s namespace layers but no type lives there; remove it"));

        var mine = known.Where(exception => exception.Project == rule.Name).ToList();
        var used = new HashSet<KnownException>();
        var remaining = new DependencyGraph();
        foreach (var node in present)
        {
            remaining.AddNode(node);
        }

        foreach (var edge in graph.Edges)
        {
            var exception = mine.Find(k => k.From == edge.From && k.To == edge.To);
            if (exception is not null)
            {
                used.Add(exception);
                continue;
            }

            remaining.AddEdge(edge.From, edge.To, edge.Evidence);
            if (!layerOf.TryGetValue(edge.From, out var fromLayer) || !layerOf.TryGetValue(edge.To, out var toLayer))
            {
                continue;
            }

            if (toLayer == fromLayer)
            {
                violations.Add($"{edge}: peers in one layer must not use each other");
            }
            else if (toLayer > fromLayer)
            {
                violations.Add($"{edge}: {edge.To} is declared above {edge.From}");
            }
        }

        violations.AddRange(remaining.FindCycles().Select(cycle => $"cycle: {string.Join(" ↔ ", cycle)}"));
        violations.AddRange(mine.Where(exception => !used.Contains(exception)).Select(exception =>
            $"known exception {exception.From} → {exception.To} ({exception.Issue}) no longer occurs; delete it from LayerRules.KnownExceptions"));
        return violations;
    }
}
