using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Engine.Nbd.Tests.Infrastructure;
using Engine.Nbd.Transport.Tls;
using Engine.Nbd.Transport.Tls.Psk;

namespace Engine.Nbd.Tests;

/// <summary>
/// TLS with pre-shared keys through OpenSSL (issue 12), against GnuTLS peers: gnutls-serv/gnutls-cli echo sessions both
/// ways, nbdkit's <c>--tls-psk</c> server driven by a hand-written handshake, and libnbd (nbdinfo, nbdsh) with
/// <c>tls-psk-file</c> against a minimal handshake server. Key files come from psktool.
/// </summary>
public sealed class PskTlsTests : IDisposable
{
    /// <summary>What nbdkit and libnbd ask GnuTLS for; gnutls-serv/cli need it spelt out (NORMAL has no PSK key exchange).</summary>
    private const string GnutlsPskPriority = "NORMAL:+ECDHE-PSK:+PSK";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    // ---------------------------------------------------------------- key file

    [Fact]
    public async Task KeyFile_reads_what_psktool_writes()
    {
        var path = await KeysAsync("alice", "bob");
        var keys = PskKeyFile.Load(path);
        Assert.Equal(["alice", "bob"], keys.Users.Order(StringComparer.Ordinal));
        var line = File.ReadAllLines(path).Single(l => l.StartsWith("bob:", StringComparison.Ordinal));
        Assert.True(keys.TryGetKey("bob", out var key));
        Assert.Equal(Convert.FromHexString(line[4..]), key);
    }

    [Fact]
    public async Task KeyFile_disposed_leaves_no_key_bytes_behind()
    {
        var keys = PskKeyFile.Load(await KeysAsync("alice"));
        Assert.True(keys.TryGetKey("alice", out var key));
        Assert.Contains(key, b => b != 0);

        keys.Dispose();

        Assert.All(key, b => Assert.Equal(0, b));
        Assert.False(keys.TryGetKey("alice", out _));
    }

    [Theory]
    [InlineData("alice", "expected username:hexkey")]
    [InlineData(":00112233", "the username is empty")]
    [InlineData("alice:", "the key of 'alice' is empty")]
    [InlineData("alice:0011223", "odd number of hex digits")]
    [InlineData("alice:00112g33", "the key of 'alice' is not hex")]
    [InlineData("carol:00112233", "username 'carol' appears twice")]
    public void KeyFile_refuses_a_bad_line_naming_file_and_line_without_the_key(string line, string message)
    {
        var path = _dir["bad.psk"];
        File.WriteAllText(path, $"carol:a1b2c3d4\n\n{line}\n");
        var e = Assert.Throws<NbdTlsException>(() => PskKeyFile.Load(path));
        Assert.StartsWith($"{path}:3: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("a1b2c3d4", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("112", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyFile_missing_or_empty_is_named()
    {
        var missing = _dir["none.psk"];
        var e = Assert.Throws<NbdTlsException>(() => PskKeyFile.Load(missing));
        Assert.Equal($"cannot read PSK key file {missing}: no such file", e.Message);
        var empty = _dir["empty.psk"];
        File.WriteAllText(empty, "\n");
        e = Assert.Throws<NbdTlsException>(() => PskKeyFile.Load(empty));
        Assert.StartsWith($"PSK key file {empty} holds no key", e.Message, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------- stream against GnuTLS

    [Theory]
    [InlineData(GnutlsPskPriority, "TLSv1.3")]
    [InlineData("NORMAL:-VERS-TLS1.3:+ECDHE-PSK:+PSK", "TLSv1.2")]
    public async Task Client_echoes_through_gnutls_serv_reading_and_writing_at_once(string priority, string protocol)
    {
        var keyFile = await KeysAsync("alice");
        var (port, serv) = await StartGnutlsServAsync(keyFile, priority);
        await using var _ = serv;
        using var client = new PskTlsClient(PskKeyFile.Load(keyFile), "alice");
        using var socket = await ConnectTcpAsync(port);
        await using var session = await client.ConnectAsync(socket, "localhost", CancellationToken.None);
        Assert.Equal(protocol, session.Protocol);
        Assert.Equal("psk", session.Authentication);

        // gnutls-serv echoes record by record, as text (a NUL ends a record's echo): lines of random letters. A
        // writer thread and a reader thread on one stream at the same time.
        var sent = RandomText(512 << 10);
        var received = new byte[sent.Length];
        var writer = Task.Run(() => session.Stream.Write(sent));
        var reader = Task.Run(() => session.Stream.ReadExactly(received));
        await Task.WhenAll(writer, reader).WaitAsync(Timeout);
        Assert.True(sent.AsSpan().SequenceEqual(received), "the echo differs from what was sent");
    }

    [Fact]
    public async Task Client_with_a_wrong_key_is_refused_by_gnutls_serv()
    {
        var keyFile = await KeysAsync("alice");
        var (port, serv) = await StartGnutlsServAsync(keyFile, GnutlsPskPriority);
        await using var _ = serv;
        using var client = new PskTlsClient("alice", RandomNumberGenerator.GetBytes(32));
        using var socket = await ConnectTcpAsync(port);
        var e = await Assert.ThrowsAsync<NbdTlsException>(async () => await client.ConnectAsync(socket, null, CancellationToken.None));
        Assert.StartsWith("PSK handshake as 'alice' failed", e.Message, StringComparison.Ordinal);
        Assert.Contains("wrong key?", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_echoes_to_gnutls_cli_and_names_its_user()
    {
        var keyFile = await KeysAsync("alice");
        var (cli, accepted) = await GnutlsCliAgainstEchoAsync(keyFile, "alice", KeyHex(keyFile, "alice"), "hello over psk\nsecond line\n");
        cli.AssertSuccess();
        Assert.Contains("hello over psk\nsecond line\n", cli.Stdout, StringComparison.Ordinal);
        Assert.Equal("alice", (await accepted.WaitAsync(Timeout)).PskIdentity);
    }

    [Theory]
    [InlineData("alice", false, "PSK handshake with 'alice' failed: wrong key?")]
    [InlineData("bob", true, "PSK identity 'bob' is not in {file}")]
    public async Task Server_refuses_gnutls_cli_with_a_wrong_key_or_an_unknown_user(string user, bool rightKey, string message)
    {
        var keyFile = await KeysAsync("alice");
        var key = rightKey ? KeyHex(keyFile, "alice") : Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var (cli, accepted) = await GnutlsCliAgainstEchoAsync(keyFile, user, key, string.Empty);
        Assert.NotEqual(0, cli.ExitCode);
        var e = await Assert.ThrowsAsync<NbdTlsException>(() => accepted.WaitAsync(Timeout));
        Assert.StartsWith(message.Replace("{file}", keyFile, StringComparison.Ordinal), e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(key, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    // ---------------------------------------------------------------- our client under nbdkit

    [Fact]
    public async Task Client_reads_from_nbdkit_tls_psk()
    {
        var keyFile = await KeysAsync("alice");
        await using var nbdkit = await StartNbdkitAsync(keyFile);
        using var client = new PskTlsClient(PskKeyFile.Load(keyFile), "alice");
        using var socket = await ConnectUnixAsync(_dir.Socket);
        await TlsHandshakeWire.StartTlsAsync(socket);
        await using var session = await client.ConnectAsync(socket, null, CancellationToken.None);
        Assert.Equal("TLSv1.3", session.Protocol);
        Assert.Equal(1ul << 20, await TlsHandshakeWire.GoAsync(session.Stream));

        // The pattern plugin stores each 8-byte word's own offset, big-endian.
        var data = await TlsHandshakeWire.ReadAsync(session.Stream, 65536, 4096);
        for (var i = 0; i < data.Length; i += 8)
        {
            Assert.Equal((ulong)(65536 + i), System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(i)));
        }

        await TlsHandshakeWire.DisconnectAsync(session.Stream);
    }

    [Fact]
    public async Task Client_with_a_wrong_key_is_refused_by_nbdkit()
    {
        var keyFile = await KeysAsync("alice");
        await using var nbdkit = await StartNbdkitAsync(keyFile);
        using var client = new PskTlsClient("alice", RandomNumberGenerator.GetBytes(32));
        using var socket = await ConnectUnixAsync(_dir.Socket);
        await TlsHandshakeWire.StartTlsAsync(socket);
        var e = await Assert.ThrowsAsync<NbdTlsException>(async () => await client.ConnectAsync(socket, null, CancellationToken.None));
        Assert.Contains("wrong key?", e.Message, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------- libnbd under our server

    [Fact]
    public async Task Nbdinfo_with_tls_psk_file_accepts_our_server()
    {
        var keyFile = await KeysAsync("alice");
        var (serving, uri) = ServeOneOverUnix(keyFile, keyFile, "alice");
        var info = await Tool.RunAsync("nbdinfo", ["--json", uri], Timeout);
        info.AssertSuccess();
        Assert.Contains("\"export-size\": 1048576", info.Stdout, StringComparison.Ordinal);
        Assert.Equal("alice", (await serving.WaitAsync(Timeout)).PskIdentity);
    }

    [Fact]
    public async Task Nbdsh_with_tls_psk_file_reads_through_our_server()
    {
        var keyFile = await KeysAsync("alice");
        var (serving, uri) = ServeOneOverUnix(keyFile, keyFile, "alice");
        // /usr/bin/nbdsh is `exec python3 -mnbd`, and the python3 first on PATH may lack the module: run Debian's.
        var sh = await Tool.RunAsync("python3", ["-m", "nbd",
            "-c", "h.set_uri_allow_local_file(True)", "-c", $"h.connect_uri('{uri}')",
            "-c", "print(h.get_size(), h.get_tls_negotiated(), h.pread(512, 4096) == bytes(512))"], Timeout);
        sh.AssertSuccess();
        Assert.Equal("1048576 True True", sh.Stdout.Trim());
        Assert.Equal("alice", (await serving.WaitAsync(Timeout)).PskIdentity);
    }

    [Fact]
    public async Task Nbdinfo_with_a_wrong_key_is_refused_by_our_server()
    {
        var serverKeys = await KeysAsync("alice");
        var clientKeys = await KeysAsync("alice");
        var (serving, uri) = ServeOneOverUnix(serverKeys, clientKeys, "alice");
        var info = await Tool.RunAsync("nbdinfo", [uri], Timeout);
        Assert.NotEqual(0, info.ExitCode);
        var e = await Assert.ThrowsAsync<NbdTlsException>(() => serving.WaitAsync(Timeout));
        Assert.StartsWith("PSK handshake with 'alice' failed: wrong key?", e.Message, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------- both ends ours

    [Fact]
    public async Task Both_directions_stream_at_once_between_our_client_and_server()
    {
        var keyFile = await KeysAsync("alice");
        var keys = PskKeyFile.Load(keyFile);
        using var server = new PskTlsServer(keys);
        using var client = new PskTlsClient(keys, "alice");
        var (a, b) = SocketPair();
        using (a)
        using (b)
        {
            var accepting = server.AcceptAsync(a, CancellationToken.None).AsTask();
            await using var clientSession = await client.ConnectAsync(b, null, CancellationToken.None);
            await using var serverSession = await accepting;
            Assert.Equal("alice", serverSession.Peer.PskIdentity);

            // Each side writes 32 MiB while reading the other's 32 MiB: with a blocking SSL_read holding the SSL
            // this would deadlock once both socket buffers fill.
            var up = RandomNumberGenerator.GetBytes(32 << 20);
            var down = RandomNumberGenerator.GetBytes(32 << 20);
            var upReceived = new byte[up.Length];
            var downReceived = new byte[down.Length];
            await Task.WhenAll(
                Task.Run(() => clientSession.Stream.Write(up)),
                Task.Run(() => serverSession.Stream.Write(down)),
                Task.Run(() => serverSession.Stream.ReadExactly(upReceived)),
                clientSession.Stream.ReadExactlyAsync(downReceived).AsTask()).WaitAsync(Timeout);
            Assert.True(up.AsSpan().SequenceEqual(upReceived), "client → server bytes differ");
            Assert.True(down.AsSpan().SequenceEqual(downReceived), "server → client bytes differ");

            // close_notify: the other side reads a clean end of stream.
            await clientSession.DisposeAsync();
            Assert.Equal(0, await serverSession.Stream.ReadAsync(new byte[16]).AsTask().WaitAsync(Timeout));
        }
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>A fresh key file with a random key per user, made by psktool.</summary>
    private async Task<string> KeysAsync(params string[] users)
    {
        var path = _dir[$"keys-{Guid.NewGuid():N}"[..13] + ".psk"];
        foreach (var user in users)
        {
            (await Tool.RunAsync("psktool", "-u", user, "-p", path)).AssertSuccess();
        }

        return path;
    }

    private static byte[] RandomText(int length)
    {
        var text = new byte[length];
        for (var i = 0; i < length; i++)
        {
            text[i] = i % 64 == 63 ? (byte)'\n' : (byte)('a' + RandomNumberGenerator.GetInt32(26));
        }

        return text;
    }

    private static string KeyHex(string keyFile, string user) =>
        File.ReadAllLines(keyFile).Single(l => l.StartsWith(user + ":", StringComparison.Ordinal))[(user.Length + 1)..];

    private static string[] GnutlsCli(int port, string user, string keyHex) =>
        ["--pskusername", user, "--pskkey", keyHex, "--priority", GnutlsPskPriority, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "127.0.0.1"];

    /// <summary>gnutls-cli as <paramref name="user"/> against our server echoing one connection; <paramref name="input"/> is its stdin.</summary>
    private async Task<(ToolResult Cli, Task<TlsPeer> Accepted)> GnutlsCliAgainstEchoAsync(string keyFile, string user, string keyHex, string input)
    {
        using var server = new PskTlsServer(PskKeyFile.Load(keyFile));
        using var listener = ListenTcp(out var port);
        var accepted = EchoOnceAsync(listener, server);
        var stdin = _dir["input"];
        await File.WriteAllTextAsync(stdin, input);
        var cli = await Tool.RunAsync("gnutls-cli", GnutlsCli(port, user, keyHex), Timeout, stdin);
        try
        {
            await accepted.WaitAsync(Timeout);
        }
        catch (NbdTlsException)
        {
            // the caller looks at it
        }

        return (cli, accepted);
    }

    private static async Task<(int Port, RunningTool Serv)> StartGnutlsServAsync(string keyFile, string priority)
    {
        for (var attempt = 0; ; attempt++)
        {
            int port;
            using (var probe = ListenTcp(out port))
            {
            }

            var serv = await Spawner.StartAsync("gnutls-serv", ["--echo", "--crlf", "--pskpasswd", keyFile, "--priority", priority, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await serv.WaitUntilAsync(() => serv.Stderr.Contains("listening", StringComparison.OrdinalIgnoreCase) || serv.HasExited, Timeout, "gnutls-serv listening");
            if (!serv.HasExited)
            {
                return (port, serv);
            }

            // Another process took the port between our probe and gnutls-serv's bind.
            await serv.DisposeAsync();
            Assert.True(attempt < 5, "gnutls-serv could not bind a port five times\n" + serv.Describe());
        }
    }

    private async Task<RunningTool> StartNbdkitAsync(string keyFile)
    {
        // nbdkit writes its pid file once the socket listens (the socket file exists a moment earlier). It dies with
        // the thread that started it (PR_SET_PDEATHSIG), hence the spawner's long-lived thread.
        var pidFile = _dir["nbdkit.pid"];
        var nbdkit = await Spawner.StartAsync("nbdkit", ["-f", "-P", pidFile, "--tls=require", "--tls-psk", keyFile, "-U", _dir.Socket, "pattern", "1M"]);
        await nbdkit.WaitUntilAsync(() => File.Exists(pidFile), Timeout, "nbdkit's pid file");
        return nbdkit;
    }

    /// <summary>Our minimal server for one connection on a Unix socket, with <paramref name="serverKeys"/>; the libnbd URI that uses <paramref name="clientKeys"/>.</summary>
    private (Task<TlsPeer> Serving, string Uri) ServeOneOverUnix(string serverKeys, string clientKeys, string user)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(_dir.Socket));
        listener.Listen();
        var serving = Task.Run(async () =>
        {
            using var server = new PskTlsServer(PskKeyFile.Load(serverKeys));
            using (listener)
            {
                using var cts = new CancellationTokenSource(Timeout);
                using var socket = await listener.AcceptAsync(cts.Token);
                return await TlsHandshakeWire.ServeOneAsync(socket, server, 1 << 20, cts.Token);
            }
        });
        return (serving, $"nbds+unix://{user}@/?socket={_dir.Socket}&tls-psk-file={clientKeys}");
    }

    private static Task<TlsPeer> EchoOnceAsync(Socket listener, PskTlsServer server) => Task.Run(async () =>
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var socket = await listener.AcceptAsync(cts.Token);
        await using var session = await server.AcceptAsync(socket, cts.Token);
        var buffer = new byte[4096];
        int n;
        while ((n = await session.Stream.ReadAsync(buffer, cts.Token)) > 0)
        {
            await session.Stream.WriteAsync(buffer.AsMemory(0, n), cts.Token);
        }

        return session.Peer;
    });

    private static Socket ListenTcp(out int port)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        return listener;
    }

    private static async Task<Socket> ConnectTcpAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return socket;
    }

    private static async Task<Socket> ConnectUnixAsync(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return socket;
    }

    private static (Socket A, Socket B) SocketPair()
    {
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var path = Path.Combine(Path.GetTempPath(), $"psk-{Guid.NewGuid():N}"[..16] + ".sock");
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var b = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        b.Connect(new UnixDomainSocketEndPoint(path));
        var a = listener.Accept();
        File.Delete(path);
        return (a, b);
    }
}
