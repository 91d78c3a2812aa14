using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Engine.Nbd.Transport.Tls.Psk;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

// One-way throughput of a TLS session over a connected Unix socket pair, as an NBD server sends READ replies: the
// OpenSSL PSK stream (PskTlsServer → PskTlsClient) against .NET's SslStream with a self-signed X.509 certificate
// (which also runs on OpenSSL here). The writer sends `total` MiB in writes of `chunk` KiB, the reader drains them
// into one buffer. Prints MB/s (10^6 bytes) and the process CPU seconds per GB; the best of three runs each.
var totalMiB = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1024;
var chunkKiB = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 256;
var total = (long)totalMiB << 20;
var payload = RandomNumberGenerator.GetBytes(chunkKiB << 10);

var keyFile = Path.Combine(Path.GetTempPath(), $"psk-bench-{Environment.ProcessId}.psk");
await File.WriteAllTextAsync(keyFile, "bench:" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "\n");
var keys = PskKeyFile.Load(keyFile);
File.Delete(keyFile);
using var pskServer = new PskTlsServer(keys);
using var pskClient = new PskTlsClient(keys, "bench");

using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
var request = new CertificateRequest("CN=bench", ecdsa, HashAlgorithmName.SHA256);
using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

Console.WriteLine($"{totalMiB} MiB one way in {chunkKiB} KiB writes, best of 3");
for (var round = 0; round < 2; round++)
{
    await Report("OpenSSL PSK stream (PskTlsServer)", async (a, b) =>
    {
        var accepting = pskServer.AcceptAsync(a, CancellationToken.None).AsTask();
        var client = await pskClient.ConnectAsync(b, null, CancellationToken.None);
        var server = await accepting;
        // OpenSSL's legacy PSK callbacks run TLS 1.3 with TLS_AES_128_GCM_SHA256.
        return (server.Stream, client.Stream, $"{server.Protocol} (TLS_AES_128_GCM_SHA256)");
    });
    foreach (var suites in (TlsCipherSuite[]?[])[null, [TlsCipherSuite.TLS_AES_128_GCM_SHA256]])
    {
        await Report("SslStream X.509 (ECDSA P-256)", async (a, b) =>
        {
            var server = new SslStream(new NetworkStream(a, ownsSocket: false));
            var client = new SslStream(new NetworkStream(b, ownsSocket: false), false, (_, presented, _, _) => presented?.GetCertHashString() == certificate.GetCertHashString());
            await Task.WhenAll(
                server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = certificate,
                    CipherSuitesPolicy = suites is null ? null : new CipherSuitesPolicy(suites),
                }),
                client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "bench" }));
            return (server, client, $"{server.SslProtocol} {server.NegotiatedCipherSuite}");
        });
    }
}

async Task Report(string name, Func<Socket, Socket, Task<(Stream Writer, Stream Reader, string Suite)>> open)
{
    double best = 0, cpuPerGb = 0;
    var suite = "";
    for (var run = 0; run < 3; run++)
    {
        var (a, b) = Pair();
        using (a)
        using (b)
        {
            var (writer, reader, negotiated) = await open(a, b);
            suite = negotiated;
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var writing = Task.Run(() =>
            {
                for (long sent = 0; sent < total; sent += payload.Length)
                {
                    writer.Write(payload);
                }
            });
            var sink = new byte[payload.Length];
            for (long received = 0; received < total;)
            {
                var n = reader.Read(sink);
                if (n == 0)
                {
                    throw new EndOfStreamException();
                }

                received += n;
            }

            await writing;
            var seconds = clock.Elapsed.TotalSeconds;
            var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
            var rate = total / seconds / 1e6;
            if (rate > best)
            {
                best = rate;
                cpuPerGb = cpuSeconds / (total / 1e9);
            }

            await writer.DisposeAsync();
            await reader.DisposeAsync();
        }
    }

    Console.WriteLine($"{name,-36} {suite,-40} {best,8:F0} MB/s  {cpuPerGb,5:F2} CPU s/GB");
}

static (Socket A, Socket B) Pair()
{
    var path = Path.Combine(Path.GetTempPath(), $"psk-bench-{Guid.NewGuid():N}"[..20] + ".sock");
    using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    listener.Bind(new UnixDomainSocketEndPoint(path));
    listener.Listen();
    var b = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    b.Connect(new UnixDomainSocketEndPoint(path));
    var a = listener.Accept();
    File.Delete(path);
    return (a, b);
}
