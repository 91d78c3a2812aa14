namespace Engine.Architecture.Tests;

/// <summary>
/// What one project may depend on: the projects it may reference directly, and the order of its namespaces.
/// </summary>
/// <param name="Name">The project, which is also its root namespace.</param>
/// <param name="MayReference">
/// The projects right below it. It may reference these and, through them, whatever they may reference.
/// </param>
/// <param name="NamespaceLayers">
/// The project's namespaces bottom first, relative to <paramref name="Name"/> ("" is the root namespace). A namespace
/// may use the namespaces of the layers below its own; namespaces of one layer are peers and use none of each other.
/// </param>
internal sealed record ProjectRule(string Name, IReadOnlyList<string> MayReference, IReadOnlyList<IReadOnlyList<string>> NamespaceLayers)
{
    /// <summary>The full namespace name of a relative one ("" is the root).</summary>
    public string FullNamespace(string relative) => relative.Length == 0 ? Name : $"{Name}.{relative}";

    /// <summary>Each declared namespace (full name) with its layer, 0 at the bottom.</summary>
    public IReadOnlyDictionary<string, int> LayerOf() =>
        NamespaceLayers
            .SelectMany((layer, level) => layer.Select(ns => (Name: FullNamespace(ns), Level: level)))
            .ToDictionary(entry => entry.Name, entry => entry.Level, StringComparer.Ordinal);
}

/// <summary>
/// A dependency that breaks the rules today and is known to: inside <see cref="Project"/>, <see cref="From"/> →
/// <see cref="To"/> (full namespace names), with the issue whose work removes it.
/// </summary>
internal sealed record KnownException(string Project, string From, string To, string Issue, string Why);
