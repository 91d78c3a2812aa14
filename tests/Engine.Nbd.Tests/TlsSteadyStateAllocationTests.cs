using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Engine.Blocks.Devices;
using Engine.Nbd.Protocol;
using Engine.Nbd.Server;
using Engine.Nbd.Server.Transmission;
using Engine.Nbd.Tests.Infrastructure;
using Engine.Nbd.Transport.Tls;
using Xunit.Abstractions;

namespace Engine.Nbd.Tests;

/// <summary>
/// The TLS half of <see cref="SteadyStateAllocationTests"/>: READs of a file export over X.509 TLS, where the reader
/// thread preads into a pooled buffer and the session encrypts from it, must allocate nothing per request once warm.
/// Only <see cref="RequestAllocationMeter"/> (the server's reader and writer threads) is judged: the client here is
/// .NET's SslStream in the same process, whose own allocations the process-wide count would mix in.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class TlsSteadyStateAllocationTests(ITestOutputHelper output)
{
    private const int ExportSize = 8 << 20;
    private const int Depth = 16;

    [Theory]
    [InlineData(4096, 20000)]
    [InlineData(256 << 10, 4000)]
    public async Task TlsRead_AllocatesNothingPerRequest_InSteadyState(int length, int requests)
    {
        using var dir = new TempCredentials();
        using var tls = X509TlsServer.Load(dir.Path, verifyPeer: false);
        var file = System.IO.Path.Combine(dir.Path, "disk.img");
        var content = new byte[ExportSize];
        Random.Shared.NextBytes(content);
        await File.WriteAllBytesAsync(file, content);
        var device = FileBlockDevice.Open(file, FileBlockDeviceOptions.Default);
        var options = new NbdServerOptions { TlsMode = NbdTlsMode.Require, TlsServer = tls, HandshakeTimeout = TimeSpan.FromSeconds(10) };
        await using var server = NbdTestServer.Start(options: options, exports: new NbdExport("disk", device, readOnly: true));
        await using var client = await server.ConnectAsync();
        await client.StartAsync();
        Assert.Equal(NbdOptionReply.Ack, (NbdOptionReply)Assert.Single(await client.OptionAsync(NbdOption.StartTls)).Type);

        await using var ssl = new SslStream(new NetworkStream(client.Socket, ownsSocket: false), leaveInnerStreamOpen: false, dir.IsSignedByCa);
        await ssl.AuthenticateAsClientAsync("localhost");
        Go(ssl, "disk");

        var loop = new TlsReadLoop(ssl, content, length);
        Assert.Equal(0, loop.Run(400));

        var rounds = requests / Depth;
        RequestAllocationMeter.Reset();
        RequestAllocationMeter.Enabled = true;
        var failure = loop.Run(rounds);
        RequestAllocationMeter.Enabled = false;
        var serverThreads = RequestAllocationMeter.Bytes;
        Assert.Equal(0, failure);

        var measured = rounds * Depth;
        output.WriteLine($"{measured} {length}-byte READs over TLS: server threads {serverThreads} bytes ({(double)serverThreads / measured:F3} per READ)");
        Assert.True(serverThreads <= measured, $"the server's request threads allocated {serverThreads} bytes over {measured} {length}-byte READs over TLS");
    }

    /// <summary>NBD_OPT_GO for <paramref name="export"/> over the TLS session, without structured replies.</summary>
    private static void Go(SslStream ssl, string export)
    {
        var name = System.Text.Encoding.UTF8.GetBytes(export);
        var data = new byte[4 + name.Length + 2];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        ssl.Write(RawNbdClient.OptionBytes((uint)NbdOption.Go, data));
        var header = new byte[20];
        while (true)
        {
            ssl.ReadExactly(header);
            var type = (NbdOptionReply)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
            ssl.ReadExactly(new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16))]);
            if (type == NbdOptionReply.Ack)
            {
                return;
            }

            Assert.Equal(NbdOptionReply.Info, type);
        }
    }

    /// <summary>
    /// <see cref="Depth"/> pre-built READ headers per round, simple replies read into one buffer and compared with the
    /// export's bytes; returns the first anomaly as a number rather than asserting inside the measured loop.
    /// </summary>
    private sealed class TlsReadLoop
    {
        private readonly SslStream _ssl;
        private readonly byte[] _content;
        private readonly int _length;
        private readonly byte[] _requests = new byte[Depth * 28];
        private readonly byte[] _reply;

        public TlsReadLoop(SslStream ssl, byte[] content, int length)
        {
            _ssl = ssl;
            _content = content;
            _length = length;
            _reply = new byte[16 + length];
            for (var i = 0; i < Depth; i++)
            {
                RawNbdClient.CompactRequest(0, (ushort)NbdCommand.Read, (ulong)i, (ulong)OffsetOf(i, length), (uint)length).CopyTo(_requests, i * 28);
            }
        }

        public int Run(int rounds)
        {
            for (var round = 0; round < rounds; round++)
            {
                _ssl.Write(_requests);
                for (var reply = 0; reply < Depth; reply++)
                {
                    _ssl.ReadExactly(_reply);
                    if (BinaryPrimitives.ReadUInt32BigEndian(_reply) != NbdMagic.SimpleReply || BinaryPrimitives.ReadUInt32BigEndian(_reply.AsSpan(4)) != 0)
                    {
                        return 1;
                    }

                    var cookie = (int)BinaryPrimitives.ReadUInt64BigEndian(_reply.AsSpan(8));
                    if (!_reply.AsSpan(16).SequenceEqual(_content.AsSpan(OffsetOf(cookie, _length), _length)))
                    {
                        return 2;
                    }
                }
            }

            return 0;
        }

        private static int OffsetOf(int index, int length) => (int)((long)(index + 3) * length * 5 % (ExportSize - length)) / 4096 * 4096;
    }

    /// <summary>A throw-away CA and server certificate in the file layout <see cref="X509TlsServer.Load"/> reads.</summary>
    private sealed class TempCredentials : IDisposable
    {
        public TempCredentials()
        {
            Path = Directory.CreateTempSubdirectory("nbd-tls-alloc-").FullName;
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var caRequest = new CertificateRequest("CN=test CA", caKey, HashAlgorithmName.SHA256);
            caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
            using var certificate = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), [1, 2, 3, 4]);
            File.WriteAllText(System.IO.Path.Combine(Path, X509TlsServer.CaCertificateFile), ca.ExportCertificatePem());
            _ca = X509CertificateLoader.LoadCertificate(ca.RawData);
            File.WriteAllText(System.IO.Path.Combine(Path, X509TlsServer.ServerCertificateFile), certificate.ExportCertificatePem());
            File.WriteAllText(System.IO.Path.Combine(Path, X509TlsServer.ServerKeyFile), key.ExportPkcs8PrivateKeyPem());
        }

        private readonly X509Certificate2 _ca;

        public string Path { get; }

        /// <summary>The client's check: the server's certificate chains to this CA.</summary>
        public bool IsSignedByCa(object sender, X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
        {
            if (certificate is null)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(_ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var server = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            return chain.Build(server);
        }

        public void Dispose()
        {
            _ca.Dispose();
            Directory.Delete(Path, recursive: true);
        }
    }
}
