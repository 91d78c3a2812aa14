using System.IO.Pipes;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Provider.Protocol;
using Engine.Sources;

namespace Engine.Provider.Tests;

/// <summary>
/// <c>next-dirty-region</c> as the provider pulls it: the calls it writes and what it makes of the replies, with this
/// test answering in the plugin's place.
/// </summary>
public sealed class DirtyRegionStreamTests : IDisposable
{
    private readonly AnonymousPipeServerStream _out = new(PipeDirection.Out);
    private readonly AnonymousPipeClientStream _in;
    private readonly StreamReader _calls;
    private readonly PeerCalls _peer;

    public DirtyRegionStreamTests()
    {
        _in = new AnonymousPipeClientStream(PipeDirection.In, _out.ClientSafePipeHandle);
        _calls = new StreamReader(_in);
        _peer = new PeerCalls(new ProtocolWriter(_out));
    }

    [Fact]
    public async Task AdjacentRegionsMergeAcrossReplies_OneCallAtATime()
    {
        var pulled = Collect(DirtyRegionStream.PullAsync(_peer, "drive-scsi0", 1 << 20));
        await ReplyAsync("[[0,4096],[4096,4096]]", end: false);
        await ReplyAsync("[[8192,4096],[65536,512]]", end: false);
        await ReplyAsync("[[66048,0],[131072,4096]]", end: false);
        await ReplyAsync("[]", end: true);
        Assert.Equal([new SourceRange(0, 12288), new SourceRange(65536, 512), new SourceRange(131072, 4096)], await pulled);
    }

    [Fact]
    public async Task RegionsThatGoBackOrPastTheEnd_FailThePull()
    {
        var backwards = Collect(DirtyRegionStream.PullAsync(_peer, "drive-scsi0", 1 << 20));
        await ReplyAsync("[[8192,4096],[4096,4096]]", end: true);
        Assert.Contains("overlaps the previous region", (await Assert.ThrowsAsync<ProtocolException>(() => backwards)).Message, StringComparison.Ordinal);

        var past = Collect(DirtyRegionStream.PullAsync(_peer, "drive-scsi0", 1 << 20));
        await ReplyAsync("[[1044480,8192]]", end: true);
        Assert.Contains("ends past the volume size 1048576", (await Assert.ThrowsAsync<ProtocolException>(() => past)).Message, StringComparison.Ordinal);

        var silent = Collect(DirtyRegionStream.PullAsync(_peer, "drive-scsi0", 1 << 20));
        await ReplyAsync("[]", end: false);
        Assert.Contains("without regions must say end", (await Assert.ThrowsAsync<ProtocolException>(() => silent)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClosureErrors_AndTheEndOfInput_FailTheWaitingCall()
    {
        var failing = Collect(DirtyRegionStream.PullAsync(_peer, "drive-scsi0", null));
        var call = await NextCallAsync();
        Assert.True(_peer.Complete(JsonDocument.Parse($$"""{"id":"{{call}}","error":"next-dirty-region: nbdinfo died"}""").RootElement));
        Assert.Equal("next-dirty-region: nbdinfo died", (await Assert.ThrowsAsync<ProtocolException>(() => failing)).Message);
        Assert.False(_peer.Complete(JsonDocument.Parse($$"""{"id":"{{call}}","regions":[],"end":true}""").RootElement), "a late reply is dropped");

        var waiting = Collect(DirtyRegionStream.PullAsync(_peer, "drive-scsi0", null));
        await NextCallAsync();
        _peer.Close(new ProtocolException("the request stream ended"));
        Assert.Equal("the request stream ended", (await Assert.ThrowsAsync<ProtocolException>(() => waiting)).Message);
    }

    public void Dispose()
    {
        _calls.Dispose();
        _out.Dispose();
    }

    private static async Task<List<SourceRange>> Collect(IAsyncEnumerable<SourceRange> regions)
    {
        var list = new List<SourceRange>();
        await foreach (var region in regions)
        {
            list.Add(region);
        }

        return list;
    }

    private async Task<string> NextCallAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var line = await _calls.ReadLineAsync(timeout.Token);
        var call = JsonNode.Parse(line!)!["call"]!;
        Assert.Equal("next-dirty-region", (string)call["method"]!);
        Assert.Equal("drive-scsi0", (string)call["device"]!);
        Assert.Equal(DirtyRegionStream.BatchSize, (int)call["max"]!);
        return (string)call["id"]!;
    }

    /// <summary>Waits for the next call (there is one only once the previous reply was used) and answers it.</summary>
    private async Task ReplyAsync(string regions, bool end)
    {
        var id = await NextCallAsync();
        var reply = JsonDocument.Parse($$"""{"id":"{{id}}","regions":{{regions}},"end":{{(end ? "true" : "false")}}}""");
        Assert.True(_peer.Complete(reply.RootElement));
    }
}
