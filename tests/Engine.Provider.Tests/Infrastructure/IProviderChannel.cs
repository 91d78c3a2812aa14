using System.Text.Json.Nodes;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>One provider reached through the JSON-lines protocol, the way the Perl plugin reaches it.</summary>
internal interface IProviderChannel : IAsyncDisposable
{
    /// <summary>The repository the provider writes to.</summary>
    string RepositoryPath { get; }

    /// <summary>Log lines received so far, as (level, message).</summary>
    IReadOnlyList<(string Level, string Message)> Logs { get; }

    /// <summary>Calls a method; an error response throws <see cref="ProviderCallException"/>.</summary>
    Task<JsonNode?> CallAsync(string method, JsonObject? parameters = null);
}

/// <summary>The provider answered with <c>{"error":{...}}</c>.</summary>
internal sealed class ProviderCallException(string method, string message) : Exception($"{method}: {message}")
{
    public string Method { get; } = method;
}
