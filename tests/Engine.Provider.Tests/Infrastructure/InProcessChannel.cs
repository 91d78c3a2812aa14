using System.Text;
using System.Text.Json.Nodes;
using Engine.Backup.Repository;
using Engine.Provider.Protocol;
using Engine.Provider.Repository;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>The reference provider behind <see cref="ProviderProtocolHost"/> in this process.</summary>
internal sealed class InProcessChannel : IProviderChannel
{
    private readonly BackupRepository _repository;
    private readonly MemoryStream _output = new();
    private readonly EngineRepositoryProvider _provider;
    private readonly ProviderProtocolHost _host;
    private readonly List<(string, string)> _logs = [];
    private long _nextId;

    public InProcessChannel(string repositoryPath, EngineRepositoryProviderOptions? options = null)
    {
        RepositoryPath = repositoryPath;
        _repository = BackupRepository.Open(repositoryPath);
        var writer = new ProtocolWriter(_output);
        _provider = new EngineRepositoryProvider(_repository, writer.Log, options);
        _host = new ProviderProtocolHost(_provider, writer);
    }

    public string RepositoryPath { get; }

    public IReadOnlyList<(string Level, string Message)> Logs => _logs;

    public async Task<JsonNode?> CallAsync(string method, JsonObject? parameters = null)
    {
        var id = ++_nextId;
        var request = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? [] };
        _output.SetLength(0);
        await _host.HandleLineAsync(request.ToJsonString(), CancellationToken.None);
        JsonObject? response = null;
        foreach (var line in Encoding.UTF8.GetString(_output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.Null(response); // nothing follows the response
            ResponseLines.TryTake(line, id, _logs, out response);
        }

        Assert.True(response is not null, $"{method}: no response");
        return ResponseLines.Result(method, response);
    }

    public async ValueTask DisposeAsync()
    {
        await _provider.DisposeAsync();
        _repository.Dispose();
    }
}
