using Engine.Blocks;
using Engine.Nbd.Client;
using static Engine.Interop.Tests.Client.ClientInterop;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Client;

/// <summary>
/// Engine's NBD client against Debian's nbd-server 3.24 (simple replies only). With -d nbd-server stays in the
/// foreground and serves exactly one connection, then exits: every connection gets its own server process.
/// </summary>
public sealed class NbdServerClientTests
{
    private static string WriteConfig(TempDir dir, string listen, params (string Name, string Path)[] exports)
    {
        var config = $"[generic]\nallowlist = true\n{listen}\n";
        foreach (var (name, path) in exports)
        {
            config += $"[{name}]\nexportname = {path}\nflush = true\nfua = true\ntrim = true\n";
        }

        var file = dir[$"nbd-{Guid.NewGuid():N}.conf"];
        File.WriteAllText(file, config);
        return file;
    }

    private static Task<ServerProcess> UnixServerAsync(TempDir dir, string socketName, params (string Name, string Path)[] exports)
    {
        var socket = dir[socketName];
        var config = WriteConfig(dir, $"unixsock = {socket}", exports);
        return ServerProcess.StartUnixAsync("nbd-server", socket, ["-C", config, "-d"]);
    }

    [Fact]
    public async Task UnixSocket_ReadsAndWritesByteExact()
    {
        using var dir = new TempDir();
        const int size = 16 * MiB;
        var file = CreateRandom(dir["disk.raw"], size, 501);
        var expected = await File.ReadAllBytesAsync(file);

        await using (var server = await UnixServerAsync(dir, "n1.sock", ("disk", file)))
        {
            await using (var client = await NbdClient.ConnectAsync(server.Uri("disk"), new NbdClientOptions { Connections = 1 }))
            {
                Assert.Equal(size, client.Size);
                Assert.False(client.Export.StructuredReplies, "nbd-server 3.24 has no structured replies");
                Assert.False(client.Export.ExtendedHeaders);
                Assert.False(client.Export.IsReadOnly);

                AssertBytes(expected, await ReadAsync(client, 0, size), "whole export");
                foreach (var (offset, length) in new (long, int)[] { (1, 1), (4095, 3), (5_000_001, 300_000), (size - 1, 1) })
                {
                    AssertBytes(expected.AsMemory((int)offset, length), await ReadAsync(client, offset, length), $"read {offset}+{length}");
                }

                // Without structured replies there is no block status: the client reports one data extent.
                var extents = new ExtentList();
                Assert.Equal(size, await client.GetExtentsAsync(0, size, extents));
                Assert.Equal([new Extent(0, size, ExtentFlags.Data)], extents.AsSpan().ToArray());

                var writes = new (long Offset, int Length, int Seed, WriteFlags Flags)[]
                {
                    (0, 4096, 1, WriteFlags.None), (123_457, 65_537, 2, WriteFlags.Fua), (8 * MiB, 4 * MiB, 3, WriteFlags.None), (size - 10, 10, 4, WriteFlags.None),
                };
                var concurrent = writes.Select(w => client.WriteAsync(w.Offset, RandomBytes(w.Length, w.Seed), w.Flags).AsTask()).ToList();
                await WithinAsync(Task.WhenAll(concurrent), TimeSpan.FromSeconds(30), "concurrent writes");
                foreach (var (offset, length, seed, _) in writes)
                {
                    RandomBytes(length, seed).CopyTo(expected.AsSpan((int)offset));
                }

                await client.WriteZeroesAsync(2 * MiB, MiB, WriteZeroesFlags.None);
                expected.AsSpan(2 * MiB, MiB).Clear();
                await client.FlushAsync();
                AssertBytes(expected, await ReadAsync(client, 0, size), "read back after writes");
            }

            Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        }

        AssertBytes(expected, await File.ReadAllBytesAsync(file), "the exported file after the session");
    }

    [Fact]
    public async Task Tcp_ReadsAndWritesByteExact()
    {
        using var dir = new TempDir();
        const int size = 4 * MiB;
        var file = CreateRandom(dir["disk.raw"], size, 502);
        var expected = await File.ReadAllBytesAsync(file);
        var port = ServerProcess.FreePort();
        var config = WriteConfig(dir, $"listenaddr = 127.0.0.1\nport = {port}", ("disk", file));

        await using (var server = await ServerProcess.StartTcpAsync("nbd-server", port, ["-C", config, "-d"]))
        {
            Assert.Equal($"nbd://127.0.0.1:{port}/disk", server.Uri("disk"));
            await using (var client = await NbdClient.ConnectAsync(server.Uri("disk"), new NbdClientOptions { Connections = 1 }))
            {
                AssertBytes(expected, await ReadAsync(client, 0, size), "whole export over TCP");
                var data = RandomBytes(MiB + 3, 7);
                await client.WriteAsync(MiB - 1, data);
                data.CopyTo(expected.AsSpan(MiB - 1));
                await client.FlushAsync();
                AssertBytes(expected, await ReadAsync(client, 0, size), "read back over TCP");
            }

            Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        }

        AssertBytes(expected, await File.ReadAllBytesAsync(file), "the exported file after the TCP session");
    }

    [Fact]
    public async Task ListExports_ShowsEveryExport()
    {
        using var dir = new TempDir();
        var a = CreateRandom(dir["a.raw"], MiB, 503);
        var b = CreateRandom(dir["b.raw"], 2 * MiB, 504);
        await using var server = await UnixServerAsync(dir, "n.sock", ("disk", a), ("other", b));

        var listed = await NbdClient.ListExportsAsync(NbdUri.Parse(server.Uri()));
        Assert.Equal(["disk", "other"], listed.Select(e => e.Name).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task TrimAndUnknownExport()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], 4 * MiB, 505);
        await using (var server = await UnixServerAsync(dir, "n1.sock", ("disk", file)))
        {
            await using var client = await NbdClient.ConnectAsync(server.Uri("disk"), new NbdClientOptions { Connections = 1 });
            Assert.True(client.Capabilities.HasFlag(BlockDeviceCapabilities.Trim), "trim = true advertises TRIM");
            Assert.True(client.Capabilities.HasFlag(BlockDeviceCapabilities.Flush), "flush = true advertises FLUSH");
            var before = await AllocatedBytesAsync(file);
            await client.TrimAsync(MiB, 2 * MiB);
            await client.FlushAsync();
            var after = await AllocatedBytesAsync(file);
            Assert.True(before - after >= 2 * MiB, $"TRIM of 2 MiB freed {before - after} bytes");
        }

        await using (var server = await UnixServerAsync(dir, "n2.sock", ("disk", file)))
        {
            var error = await FaultWithinAsync(NbdClient.ConnectAsync(server.Uri("nosuch"), new NbdClientOptions { Connections = 1, ConnectTimeout = TimeSpan.FromSeconds(5) }),
                TimeSpan.FromSeconds(15), "connect to an export nbd-server does not have");
            Assert.IsAssignableFrom<NbdException>(error);
            Assert.Contains("nosuch", error.Message, StringComparison.Ordinal);
        }
    }
}
