using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Engine.Blocks;
using Engine.Interop.Tests.Infrastructure;
using Engine.Nbd.Client;

namespace Engine.Interop.Tests.Client;

/// <summary>
/// A real NBD server (qemu-nbd, nbdkit, nbd-server) running as a child process. Startup waits until the kernel shows
/// its socket listening (from /proc/net, so no connection is spent: nbd-server -d serves exactly one). Dispose kills it.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private const int Sigkill = 9;

    private readonly RunningTool _tool;

    private ServerProcess(RunningTool tool, string? socketPath, int port)
    {
        _tool = tool;
        SocketPath = socketPath;
        Port = port;
    }

    public string? SocketPath { get; }

    public int Port { get; }

    public int Pid => _tool.Pid;

    public bool HasExited => _tool.HasExited;

    public string Describe() => _tool.Describe();

    /// <summary>The URI of <paramref name="export"/> ("" = the default export).</summary>
    public string Uri(string export = "") =>
        SocketPath is not null ? $"nbd+unix:///{export}?socket={SocketPath}" : $"nbd://127.0.0.1:{Port}/{export}";

    public static async Task<ServerProcess> StartUnixAsync(string tool, string socketPath, IReadOnlyList<string> args)
    {
        var server = new ServerProcess(await Spawner.StartAsync(tool, args), socketPath, 0);
        try
        {
            await server._tool.WaitUntilAsync(() => IsUnixListening(socketPath), TimeSpan.FromSeconds(20), $"{socketPath} to listen");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    public static async Task<ServerProcess> StartTcpAsync(string tool, int port, IReadOnlyList<string> args)
    {
        var server = new ServerProcess(await Spawner.StartAsync(tool, args), null, port);
        try
        {
            await server._tool.WaitUntilAsync(() => IsTcpListening(port), TimeSpan.FromSeconds(20), $"127.0.0.1:{port} to listen");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>kill -9: the server vanishes mid-request.</summary>
    public void Kill() => Signals.Send(Pid, Sigkill);

    /// <summary>Waits for the server to exit by itself (nbd-server -d after its one session).</summary>
    public Task<int> WaitForExitAsync(TimeSpan timeout) => _tool.WaitForExitAsync(timeout);

    public ValueTask DisposeAsync() => _tool.DisposeAsync();

    /// <summary>A TCP port nothing listens on right now.</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static bool IsUnixListening(string path)
    {
        // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON (listening).
        foreach (var line in File.ReadLines("/proc/net/unix").Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 8 && fields[^1] == path && fields[3] == "00010000")
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsTcpListening(int port)
    {
        var suffix = $":{port:X4}";
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(file))
            {
                continue;
            }

            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 3 && fields[3] == "0A" && fields[1].EndsWith(suffix, StringComparison.Ordinal))
                {
                    return true;
                }
            }
        }

        return false;
    }
}

/// <summary>An extent as nbdinfo --map prints it: offset, length, type.</summary>
internal readonly record struct MapEntry(long Offset, long Length, uint Type)
{
    public override string ToString() => $"{Offset,10}  {Length,10}  {Type,3}";
}

/// <summary>Shared helpers for the client interop tests: the engine CLI, nbdinfo maps, the pattern plugin, timing.</summary>
internal static class ClientInterop
{
    public static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(90);

    public static string EngineDll => EngineCli.Dll;

    /// <summary>Runs <c>dotnet engine.dll ARGS</c> with a timeout.</summary>
    public static Task<ToolResult> EngineAsync(params string[] args) => Tool.RunAsync("/usr/bin/dotnet", [EngineDll, .. args], CliTimeout);

    /// <summary><c>nbdinfo --map=CONTEXT URI</c>, parsed.</summary>
    public static async Task<List<MapEntry>> NbdinfoMapAsync(string uri, string context = "base:allocation") =>
        ParseMap((await Tool.RunAsync("nbdinfo", $"--map={context}", uri)).AssertSuccess().Stdout);

    public static List<MapEntry> ParseMap(string text)
    {
        var result = new List<MapEntry>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(fields.Length >= 3, $"unexpected map line '{line}'");
            result.Add(new MapEntry(
                long.Parse(fields[0], CultureInfo.InvariantCulture),
                long.Parse(fields[1], CultureInfo.InvariantCulture),
                uint.Parse(fields[2], CultureInfo.InvariantCulture)));
        }

        return Merge(result);
    }

    /// <summary>Every extent of <paramref name="context"/> through the client, adjacent equal types merged.</summary>
    public static async Task<List<MapEntry>> ClientMapAsync(NbdClient client, string context = "base:allocation")
    {
        var result = new List<MapEntry>();
        long expected = 0;
        await foreach (var extent in client.EnumerateExtentsAsync(context))
        {
            Assert.True(extent.Offset == expected && extent.Length > 0, $"{context}: extent {extent} does not follow {expected}");
            result.Add(new MapEntry(extent.Offset, extent.Length, (uint)extent.Flags));
            expected = extent.End;
        }

        Assert.Equal(client.Size, expected);
        return Merge(result);
    }

    public static List<MapEntry> Merge(IEnumerable<MapEntry> entries)
    {
        var merged = new List<MapEntry>();
        foreach (var e in entries)
        {
            if (merged.Count > 0 && merged[^1].Type == e.Type && merged[^1].Offset + merged[^1].Length == e.Offset)
            {
                merged[^1] = merged[^1] with { Length = merged[^1].Length + e.Length };
            }
            else
            {
                merged.Add(e);
            }
        }

        return merged;
    }

    public static void AssertMapsEqual(IReadOnlyList<MapEntry> expected, IReadOnlyList<MapEntry> actual, string what) =>
        Assert.True(expected.SequenceEqual(actual),
            $"{what}\n--- expected ---\n{string.Join('\n', expected)}\n--- got ---\n{string.Join('\n', actual)}");

    /// <summary>The content of nbdkit-pattern-plugin: every 8-byte aligned offset holds itself, 64-bit big-endian.</summary>
    public static byte[] Pattern(long offset, int length)
    {
        var result = new byte[length];
        Span<byte> word = stackalloc byte[8];
        for (var i = 0; i < length; i++)
        {
            var at = offset + i;
            BinaryPrimitives.WriteInt64BigEndian(word, at & ~7L);
            result[i] = word[(int)(at & 7)];
        }

        return result;
    }

    /// <summary>A buffer of junk, so that a read that leaves bytes untouched (say, a hole chunk not zero-filled) shows.</summary>
    public static byte[] Junk(int length)
    {
        var buffer = new byte[length];
        buffer.AsSpan().Fill(0xEE);
        return buffer;
    }

    /// <summary>Awaits <paramref name="task"/>, failing if it runs past <paramref name="limit"/> (a hang).</summary>
    public static async Task WithinAsync(Task task, TimeSpan limit, string what)
    {
        if (await Task.WhenAny(task, Task.Delay(limit)) != task)
        {
            Assert.Fail($"{what}: still not done after {limit.TotalSeconds} s (hang)");
        }

        await task;
    }

    public static async Task<T> WithinAsync<T>(Task<T> task, TimeSpan limit, string what)
    {
        await WithinAsync((Task)task, limit, what);
        return await task;
    }

    /// <summary>The exception <paramref name="task"/> faults with, within <paramref name="limit"/>; fails if it succeeds or hangs.</summary>
    public static async Task<Exception> FaultWithinAsync(Task task, TimeSpan limit, string what)
    {
        if (await Task.WhenAny(task, Task.Delay(limit)) != task)
        {
            Assert.Fail($"{what}: neither failed nor completed within {limit.TotalSeconds} s (hang)");
        }

        Assert.True(task.IsFaulted, $"{what}: expected a failure, got {task.Status}");
        return task.Exception!.InnerExceptions.Count == 1 ? task.Exception.InnerException! : task.Exception;
    }

    /// <summary>Asserts <paramref name="error"/> is a server error with <paramref name="errno"/>.</summary>
    public static void AssertServerError(Exception error, int errno, string what)
    {
        var server = Assert.IsType<NbdServerErrorException>(error, exactMatch: true);
        Assert.True(server.Errno == errno, $"{what}: expected errno {errno}, got {server.Errno} ({server.Message})");
    }

    public static async Task<Exception> ServerErrorAsync(Func<Task> action, int errno, string what)
    {
        var error = await FaultWithinAsync(action(), TimeSpan.FromSeconds(30), what);
        AssertServerError(error, errno, what);
        return error;
    }

    /// <summary>Reads <paramref name="length"/> bytes at <paramref name="offset"/> into a junk-filled buffer.</summary>
    public static async Task<byte[]> ReadAsync(IBlockDevice device, long offset, int length)
    {
        var buffer = Junk(length);
        await device.ReadAsync(offset, buffer);
        return buffer;
    }

    /// <summary>Compares byte arrays, reporting the first difference instead of dumping megabytes.</summary>
    public static void AssertBytes(ReadOnlyMemory<byte> expectedMemory, ReadOnlyMemory<byte> actualMemory, string what)
    {
        var expected = expectedMemory.Span;
        var actual = actualMemory.Span;
        Assert.True(expected.Length == actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}");
        var diff = expected.CommonPrefixLength(actual);
        if (diff != expected.Length)
        {
            Assert.Fail($"{what}: first difference at byte {diff}: expected 0x{expected[diff]:x2}, got 0x{actual[diff]:x2}");
        }
    }
}
