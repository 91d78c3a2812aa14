using Engine.Sources;

namespace Engine.Provider.Protocol;

/// <summary>One reply to a <c>next-dirty-region</c> call: the regions the closure returned, and whether it is exhausted.</summary>
/// <param name="Regions">Up to <c>max</c> regions, in the closure's order.</param>
/// <param name="End">True when the closure returned nothing (after the last region).</param>
internal sealed record DirtyRegionBatch(IReadOnlyList<SourceRange> Regions, bool End);
