using System.Text;
using System.Text.Json.Nodes;
using Engine.Backup.Repository;
using Engine.Provider.Api;
using Engine.Provider.Protocol;
using Engine.Provider.Repository;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>A provider behind <see cref="ProviderProtocolHost"/> in this process: the reference provider, or a vendor's.</summary>
internal sealed class InProcessChannel : IProviderChannel
{
    private readonly BackupRepository? _repository;
    private readonly MemoryStream _output = new();
    private readonly IBackupProvider _provider;
    private readonly ProviderProtocolHost _host;
    private readonly List<(string, string)> _logs = [];
    private long _nextId;

    public InProcessChannel(string repositoryPath, EngineRepositoryProviderOptions? options = null)
        : this(repositoryPath, BackupRepository.Open(repositoryPath), (repository, log) => new EngineRepositoryProvider(repository!, log, options))
    {
    }

    /// <summary>A vendor's provider, which has no Engine repository.</summary>
    public InProcessChannel(Func<ProviderLogFunction, IBackupProvider> create)
        : this("", null, (_, log) => create(log))
    {
    }

    private InProcessChannel(string repositoryPath, BackupRepository? repository, Func<BackupRepository?, ProviderLogFunction, IBackupProvider> create)
    {
        RepositoryPath = repositoryPath;
        _repository = repository;
        var writer = new ProtocolWriter(_output);
        _provider = create(repository, writer.Log);
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
        _repository?.Dispose();
    }
}
