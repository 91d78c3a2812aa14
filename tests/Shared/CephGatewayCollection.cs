namespace Engine.Tests.Shared;

/// <summary>One <see cref="CephGateway"/> for every test class marked <c>[Collection(CephGateway.Collection)]</c>.</summary>
[CollectionDefinition(CephGateway.Collection)]
public sealed class CephGatewayCollection : ICollectionFixture<CephGateway>;
