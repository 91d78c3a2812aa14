namespace Engine.Fuzz.Tests;

/// <summary>The targets share fixtures (the NBD server's exception log, scratch files): their tests run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FuzzTargetCollection
{
    public const string Name = "fuzz targets";
}
