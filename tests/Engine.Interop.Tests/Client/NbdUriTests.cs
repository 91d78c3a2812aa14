using Engine.Nbd.Client;

namespace Engine.Interop.Tests.Client;

/// <summary>NbdUri against the examples of the NBD URI specification (no server needed).</summary>
public sealed class NbdUriTests
{
    public static TheoryData<string, string?, int, string?, string, bool> Valid => new()
    {
        // text, host, port, socket, export name, tls
        { "nbd://example.com/disk", "example.com", 10809, null, "disk", false },
        { "nbd://example.com", "example.com", 10809, null, "", false },
        { "nbd://example.com/", "example.com", 10809, null, "", false },
        { "nbd://example.com:10810/disk", "example.com", 10810, null, "disk", false },
        { "nbd://example.com//disk", "example.com", 10809, null, "/disk", false },
        { "nbd://example.com/hello%20world", "example.com", 10809, null, "hello world", false },
        { "nbd://[::1]:10810/", "::1", 10810, null, "", false },
        { "nbd://[::1]/disk", "::1", 10809, null, "disk", false },
        { "nbd://192.0.2.7:1/x", "192.0.2.7", 1, null, "x", false },
        { "nbd+unix:///disk?socket=sock", null, 10809, "sock", "disk", false },
        { "nbd+unix:///?socket=/tmp/nbd.sock", null, 10809, "/tmp/nbd.sock", "", false },
        { "nbd+unix:///disk?socket=/tmp/a%20b.sock", null, 10809, "/tmp/a b.sock", "disk", false },
        { "nbds://example.com/disk", "example.com", 10809, null, "disk", true },
        { "nbds://example.com/disk?tls-type=x509", "example.com", 10809, null, "disk", true },
        { "nbds+unix:///disk?socket=/s&tls-hostname=example.com", null, 10809, "/s", "disk", true },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Parse_SpecExamples(string text, string? host, int port, string? socket, string export, bool tls)
    {
        var uri = NbdUri.Parse(text);
        Assert.Equal(host, uri.Host);
        Assert.Equal(socket, uri.SocketPath);
        Assert.Equal(export, uri.ExportName);
        Assert.Equal(tls, uri.Tls);
        if (socket is null)
        {
            Assert.Equal(port, uri.Port);
        }

        Assert.Equal(text, uri.ToString());
    }

    [Theory]
    [InlineData("nbd://h/?tls-type=x509")]
    [InlineData("nbd://h/?tls-verify-peer=false")]
    [InlineData("nbd+unix:///?socket=/s&tls-hostname=x")]
    [InlineData("nbd://h/?bogus=1")]
    [InlineData("nbd+unix:///disk?socket=/s&bogus=1")]
    [InlineData("nbd+unix:///disk")]
    [InlineData("nbd+unix:///disk?socket=")]
    [InlineData("nbd://h/disk?socket=/s")]
    [InlineData("nbd://h:0/")]
    [InlineData("nbd://h:65536/")]
    [InlineData("nbd://h:port/")]
    [InlineData("nbd://[::1/")]
    [InlineData("http://example.com/disk")]
    [InlineData("example.com:10809")]
    public void Parse_Invalid_ThrowsFormatException(string text) =>
        Assert.Throws<FormatException>(() => NbdUri.Parse(text));

    [Fact]
    public void Parse_TlsKeys_AsLibnbdReadsThem()
    {
        var uri = NbdUri.Parse("nbds+unix://alice@/disk?socket=/s&tls-certificates=/etc/pki/nbd&tls-verify-peer=0&tls-hostname=server.example");
        Assert.True(uri.Tls);
        Assert.Equal("/etc/pki/nbd", uri.TlsCertificates);
        Assert.False(uri.TlsVerifyPeer);
        Assert.Equal("server.example", uri.TlsHostname);
        Assert.Equal("server.example", uri.TlsCheckedHostname);
        Assert.Equal("alice", uri.TlsUsername);
        Assert.Null(uri.TlsPskFile);

        var psk = NbdUri.Parse("nbds+unix://alice@/?socket=/s&tls-psk-file=/etc/keys.psk");
        Assert.Equal("/etc/keys.psk", psk.TlsPskFile);
        Assert.Equal("alice", psk.TlsUsername);
        Assert.Equal("bob", NbdUri.Parse("nbds://alice@h/?tls-psk-file=/k&tls-username=bob").TlsUsername);

        var tcp = NbdUri.Parse("nbds://bob@example.com:10810/disk");
        Assert.Equal("example.com", tcp.Host);
        Assert.Equal(10810, tcp.Port);
        Assert.True(tcp.TlsVerifyPeer);
        Assert.Equal("example.com", tcp.TlsCheckedHostname);
        Assert.Null(NbdUri.Parse("nbds+unix:///?socket=/s").TlsCheckedHostname);
        Assert.Null(NbdUri.Parse("nbd://alice@h/").TlsUsername);
    }

    [Theory]
    [InlineData("nbds://h/?tls-verify-peer=maybe", "tls-verify-peer must be 0 or 1")]
    [InlineData("nbds://h/?tls-certificates=", "tls-certificates needs a value")]
    [InlineData("nbds://h/?tls-priority=NORMAL", "unsupported TLS query key 'tls-priority'")]
    [InlineData("nbds://h/?tls-bogus=1", "unsupported TLS query key 'tls-bogus'")]
    [InlineData("nbds://h/?tls-type=anon", "anonymous TLS is not supported")]
    [InlineData("nbds://h/?tls-type=psk", "tls-type=psk needs tls-psk-file")]
    [InlineData("nbds://h/?tls-psk-file=/k&tls-certificates=/d", "exclude each other")]
    [InlineData("nbd://h/?tls-certificates=/d", "needs a TLS scheme")]
    public void Parse_BadTlsKeys_SayWhatIsWrong(string text, string message)
    {
        var error = Assert.Throws<FormatException>(() => NbdUri.Parse(text));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_PskFileMissing_IsNamedBeforeConnecting()
    {
        // Nothing listens: the key file is read first, and its absence named.
        var error = await Assert.ThrowsAnyAsync<NbdException>(() => NbdClient.ConnectAsync("nbds+unix://alice@/?socket=/tmp/none.sock&tls-psk-file=/tmp/no-such-keys.psk"));
        Assert.Contains("cannot read PSK key file /tmp/no-such-keys.psk: no such file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_MalformedUri_ThrowsFormatException() =>
        await Assert.ThrowsAsync<FormatException>(() => NbdClient.ConnectAsync("nbd+unix:///disk"));
}
