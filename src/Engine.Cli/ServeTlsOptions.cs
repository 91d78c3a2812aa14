using System.CommandLine;
using Engine.Nbd.Server;

namespace Engine.Cli;

/// <summary>
/// The TLS flags of <c>engine serve</c>, as nbdkit spells them: <c>--tls off|on|require</c>,
/// <c>--tls-certificates DIR</c> (ca-cert.pem, server-cert.pem, server-key.pem) and <c>--tls-verify-peer</c>.
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

    /// <summary>Adds the flags to a command.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Mode);
        command.Options.Add(Certificates);
        command.Options.Add(VerifyPeer);
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
        if (mode == NbdTlsMode.Off && (certificates is not null || verifyPeer))
        {
            throw new FormatException("--tls-certificates and --tls-verify-peer need --tls on or --tls require");
        }

        if (mode != NbdTlsMode.Off && certificates is null)
        {
            throw new FormatException($"--tls {parse.GetValue(Mode)} needs --tls-certificates DIR");
        }

        return new ServeTlsSettings(mode, certificates is null ? null : Path.GetFullPath(certificates), verifyPeer);
    }
}

/// <summary>The TLS settings <see cref="ServeTlsOptions.Read"/> checked.</summary>
internal sealed record ServeTlsSettings(NbdTlsMode Mode, string? CertificatesDirectory, bool VerifyPeer);
