using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Engine.Provider.Tests.Infrastructure;

namespace Engine.Provider.Tests;

/// <summary>
/// What the JSON-lines host does with input no plugin sends: lines past the size limit, out-of-range start times,
/// unknown guest types. Each is refused by name, in words meant for the user, and the host serves the next request.
/// </summary>
public sealed class ProtocolInputTests
{
    private const int MiB = 1 << 20;

    [Fact]
    public async Task HundredMegabyteLine_IsRefusedWithNullId_MemoryStaysSmall_AndTheNextRequestIsAnswered()
    {
        using var dir = new TempDir();
        await using var provider = ProcessChannel.Start(dir["repo"]);
        Assert.Equal("Engine", (string)(await provider.CallAsync("provider_name"))!);

        // A well-formed request whose one string is 100 MB: only its length is wrong.
        var head = "{\"id\":7,\"method\":\"provider_name\",\"params\":{\"pad\":\""u8.ToArray();
        var tail = "\"}}"u8.ToArray();
        var chunk = Encoding.ASCII.GetBytes(new string('a', MiB));
        await provider.Input.WriteAsync(head);
        for (var i = 0; i < 100; i++)
        {
            await provider.Input.WriteAsync(chunk);
        }

        await provider.Input.WriteAsync(tail);
        await provider.Input.WriteAsync("\n"u8.ToArray());
        await provider.Input.FlushAsync();

        var refusal = await provider.ReadMessageAsync("the oversized line");
        Assert.True(refusal["id"] is null && refusal.ContainsKey("id"), $"expected \"id\":null, got {refusal.ToJsonString()}");
        var message = (string)refusal["error"]!["message"]!;
        Assert.Contains($"{head.Length + 100 * MiB + tail.Length} bytes", message, StringComparison.Ordinal);
        Assert.Contains("16777216", message, StringComparison.Ordinal);

        Assert.Equal("Engine", (string)(await provider.CallAsync("provider_name"))!);
        var peak = PeakResidentMiB(provider.Pid);
        Assert.True(peak < 100, $"peak RSS {peak} MiB while a 100 MB line went by (limit 100 MiB)");
        Assert.Equal(0, await provider.EndAsync());
    }

    [Theory]
    [InlineData("job_init", -1L)]
    [InlineData("job_init", 100L)]
    [InlineData("backup_init", 253402300800L)]
    [InlineData("backup_init", long.MaxValue)]
    public async Task StartTimeOutsideSaneBounds_IsRefusedNamingTheValue(string method, long startTime)
    {
        using var dir = new TempDir();
        await using var provider = new InProcessChannel(dir["repo"]);
        var error = await Assert.ThrowsAsync<ProviderCallException>(() => provider.CallAsync(method, new JsonObject
        {
            ["vmid"] = "100",
            ["vmtype"] = "qemu",
            ["start-time"] = startTime,
        }));
        Assert.Contains("'start-time'", error.Message, StringComparison.Ordinal);
        Assert.Contains(startTime.ToString(CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Parameter", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartTimeADayAhead_IsRefused_AnHourAheadIsAccepted()
    {
        using var dir = new TempDir();
        await using var provider = new InProcessChannel(dir["repo"]);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await Assert.ThrowsAsync<ProviderCallException>(() => provider.CallAsync("job_init", new JsonObject { ["start-time"] = now + 2 * 86400 }));
        Assert.Null(await provider.CallAsync("job_init", new JsonObject { ["start-time"] = now + 3600 }));
    }

    [Theory]
    [InlineData("backup_init")]
    [InlineData("backup_get_mechanism")]
    public async Task UnknownGuestType_IsNamed_WithoutDotnetParameterNames(string method)
    {
        using var dir = new TempDir();
        await using var provider = new InProcessChannel(dir["repo"]);
        var error = await Assert.ThrowsAsync<ProviderCallException>(() => provider.CallAsync(method, new JsonObject
        {
            ["vmid"] = "100",
            ["vmtype"] = "kvm",
            ["start-time"] = 1764170000,
        }));
        Assert.Equal($"{method}: unknown guest type 'kvm' (qemu or lxc)", error.Message);
    }

    /// <summary>VmHWM, the process's peak resident set so far.</summary>
    private static long PeakResidentMiB(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        var kib = long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        return kib / 1024;
    }
}
