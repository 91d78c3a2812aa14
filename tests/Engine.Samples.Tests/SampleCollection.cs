namespace Engine.Samples.Tests;

/// <summary>The sample's test classes share one pack and build of the sample (<see cref="SampleProviderFixture"/>).</summary>
[CollectionDefinition(Name)]
public sealed class SampleCollection : ICollectionFixture<SampleProviderFixture>
{
    public const string Name = "sample provider";
}
