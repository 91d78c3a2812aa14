using System.Text.Json.Nodes;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>Sorts the provider's output lines into log lines and the response to one request.</summary>
internal static class ResponseLines
{
    /// <summary>True when <paramref name="line"/> is the response to <paramref name="id"/>; logs are collected on the way.</summary>
    public static bool TryTake(string line, long id, List<(string, string)> logs, out JsonObject? response)
    {
        response = null;
        var node = JsonNode.Parse(line)!.AsObject();
        if (node["log"] is JsonObject log)
        {
            lock (logs)
            {
                logs.Add(((string)log["level"]!, (string)log["message"]!));
            }

            return false;
        }

        Assert.True(node["id"] is not null && (long)node["id"]! == id, $"expected the response to request {id}, got: {line}");
        response = node;
        return true;
    }

    public static JsonNode? Result(string method, JsonObject response) =>
        response["error"] is JsonObject error
            ? throw new ProviderCallException(method, (string)error["message"]!)
            : response["result"]?.DeepClone();
}
