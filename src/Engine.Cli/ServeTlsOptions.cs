using System.CommandLine;
using Engine.Nbd.Server;

namespace Engine.Cli;

/// <summary>
/// The TLS flags of <c>engine serve</c>, as nbdkit spells them: <c>--tls off|on|require</c>,
/// <c>--tls-certificates DIR</c> (ca-cert.pem, server-cert.pem, server-key.pem), <c>--tls-verify-peer</c>, and
/// <c>--tls-psk FILE</c> (psktool's <c>username:hexkey</c> lines). As in nbdkit, X.509 and PSK exclude each other.
/// </summary>
internal sealed class ServeTlsOptions
{
    public ServeTlsOptions()
    {
        Mode.AcceptOnlyFromAmong("off", "on", "require");
    }

    public Option<string?> Mode { get; } = new("--tls")
    {
        Description = "off: no TLS (default); on: offer TLS; require: refuse everything but STARTTLS until TLS is up.",
    };

    public Option<string?> Certificates { get; } = new("--tls-certificates")
    {
        Description = "Directory with ca-cert.pem, server-cert.pem and server-key.pem (the qemu/nbdkit/libnbd layout).",
    };

    public Option<bool> VerifyPeer { get; } = new("--tls-verify-peer")
    {
        Description = "Require a client certificate signed by the directory's ca-cert.pem.",
    };

    public Option<string?> Psk { get; } = new("--tls-psk")
    {
        Description = "Pre-shared keys file as psktool writes it (username:hexkey per line): TLS-PSK instead of certificates.",
    };

    /// <summary>Adds the flags to a command.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Mode);
        command.Options.Add(Certificates);
        command.Options.Add(VerifyPeer);
        command.Options.Add(Psk);
    }

    /// <summary>Reads and checks the flags.</summary>
    /// <exception cref="FormatException">The flags contradict each other; the message says how.</exception>
    public ServeTlsSettings Read(ParseResult parse)
    {
        var mode = parse.GetValue(Mode) switch
        {
            "on" => NbdTlsMode.On,
            "require" => NbdTlsMode.Require,
            _ => NbdTlsMode.Off,
        };
        var certificates = parse.GetValue(Certificates);
        var verifyPeer = parse.GetValue(VerifyPeer);
        var psk = parse.GetValue(Psk);
        if (mode == NbdTlsMode.Off && (certificates is not null || verifyPeer || psk is not null))
        {
            throw new FormatException("--tls-certificates, --tls-verify-peer and --tls-psk need --tls on or --tls require");
        }

        if (certificates is not null && psk is not null)
        {
            throw new FormatException("--tls-certificates and --tls-psk exclude each other (X.509 or PSK, as in nbdkit)");
        }

        if (psk is not null && verifyPeer)
        {
            throw new FormatException("--tls-verify-peer checks client certificates; with --tls-psk every client proves its key anyway");
        }

        if (mode != NbdTlsMode.Off && certificates is null && psk is null)
        {
            throw new FormatException($"--tls {parse.GetValue(Mode)} needs --tls-certificates DIR or --tls-psk FILE");
        }

        return new ServeTlsSettings(
            mode,
            certificates is null ? null : Path.GetFullPath(certificates),
            verifyPeer,
            psk is null ? null : Path.GetFullPath(psk));
    }
}

/// <summary>The TLS settings <see cref="ServeTlsOptions.Read"/> checked.</summary>
internal sealed record ServeTlsSettings(NbdTlsMode Mode, string? CertificatesDirectory, bool VerifyPeer, string? PskFile);
