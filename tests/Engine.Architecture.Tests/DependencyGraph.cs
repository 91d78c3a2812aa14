namespace Engine.Architecture.Tests;

/// <summary>
/// A directed graph of names (projects or namespaces). Each edge keeps one piece of evidence (which type uses which),
/// so a failure says where to look, not only that something is wrong.
/// </summary>
internal sealed class DependencyGraph
{
    private readonly SortedDictionary<string, SortedDictionary<string, string>> _edges = new(StringComparer.Ordinal);

    public IEnumerable<string> Nodes => _edges.Keys;

    public IEnumerable<Dependency> Edges =>
        _edges.SelectMany(from => from.Value.Select(to => new Dependency(from.Key, to.Key, to.Value)));

    public void AddNode(string name) => _edges.TryAdd(name, new SortedDictionary<string, string>(StringComparer.Ordinal));

    /// <summary>Adds <paramref name="from"/> → <paramref name="to"/>; the first evidence seen for an edge is kept.</summary>
    public void AddEdge(string from, string to, string evidence)
    {
        AddNode(from);
        AddNode(to);
        if (from != to)
        {
            _edges[from].TryAdd(to, evidence);
        }
    }

    /// <summary>
    /// Every cycle, as the nodes of one strongly connected component with more than one member (Tarjan's algorithm),
    /// each sorted by name.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<string>> FindCycles()
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var lowLink = new Dictionary<string, int>(StringComparer.Ordinal);
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var cycles = new List<IReadOnlyList<string>>();

        void Visit(string node)
        {
            index[node] = lowLink[node] = index.Count;
            stack.Push(node);
            onStack.Add(node);
            foreach (var next in _edges[node].Keys)
            {
                if (index.TryGetValue(next, out var nextIndex))
                {
                    if (onStack.Contains(next))
                    {
                        lowLink[node] = Math.Min(lowLink[node], nextIndex);
                    }
                }
                else
                {
                    Visit(next);
                    lowLink[node] = Math.Min(lowLink[node], lowLink[next]);
                }
            }

            if (lowLink[node] == index[node])
            {
                var component = new List<string>();
                string member;
                do
                {
                    member = stack.Pop();
                    onStack.Remove(member);
                    component.Add(member);
                }
                while (member != node);

                if (component.Count > 1)
                {
                    component.Sort(StringComparer.Ordinal);
                    cycles.Add(component);
                }
            }
        }

        foreach (var node in _edges.Keys)
        {
            if (!index.ContainsKey(node))
            {
                Visit(node);
            }
        }

        return cycles;
    }
}

/// <summary>One edge of a <see cref="DependencyGraph"/>: <see cref="From"/> uses <see cref="To"/>.</summary>
internal readonly record struct Dependency(string From, string To, string Evidence)
{
    public override string ToString() => $"{From} → {To} ({Evidence})";
}
