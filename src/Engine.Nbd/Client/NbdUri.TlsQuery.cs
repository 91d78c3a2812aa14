namespace Engine.Nbd.Client;

/// <content>The TLS query keys libnbd's <c>nbd_connect_uri</c> reads, checked as they are parsed.</content>
public sealed partial record NbdUri
{
    /// <summary>The <c>tls-*</c> keys of one URI.</summary>
    private sealed class TlsQuery
    {
        public string? Certificates { get; private set; }

        public bool VerifyPeer { get; private set; } = true;

        public string? Hostname { get; private set; }

        public string? PskFile { get; private set; }

        public string? Username { get; private set; }

        private string? Type { get; set; }

        public void Set(string text, string key, string value)
        {
            switch (key)
            {
                case "tls-certificates":
                    Certificates = NotEmpty(text, key, value);
                    break;
                case "tls-verify-peer":
                    VerifyPeer = value switch
                    {
                        "1" or "true" or "yes" or "on" => true,
                        "0" or "false" or "no" or "off" => false,
                        _ => throw new FormatException($"'{text}': tls-verify-peer must be 0 or 1, not '{value}'"),
                    };
                    break;
                case "tls-hostname":
                    Hostname = NotEmpty(text, key, value);
                    break;
                case "tls-psk-file":
                    PskFile = NotEmpty(text, key, value);
                    break;
                case "tls-username":
                    Username = NotEmpty(text, key, value);
                    break;
                case "tls-type":
                    // The NBD URI specification's key; libnbd picks the method from tls-psk-file instead.
                    Type = value is "x509" or "psk"
                        ? value
                        : throw new FormatException($"'{text}': tls-type must be x509 or psk, not '{value}' (anonymous TLS is not supported)");
                    break;
                default:
                    throw new FormatException($"'{text}': unsupported TLS query key '{key}' (known: tls-certificates, tls-verify-peer, tls-hostname, tls-psk-file, tls-username, tls-type)");
            }
        }

        /// <summary>Refuses combinations that contradict each other.</summary>
        public void Check(string text)
        {
            if (PskFile is not null && Certificates is not null)
            {
                throw new FormatException($"'{text}': tls-psk-file and tls-certificates exclude each other (PSK or X.509, not both)");
            }

            if (Type == "psk" && PskFile is null)
            {
                throw new FormatException($"'{text}': tls-type=psk needs tls-psk-file=FILE");
            }

            if (Type == "x509" && PskFile is not null)
            {
                throw new FormatException($"'{text}': tls-type=x509 contradicts tls-psk-file");
            }
        }

        private static string NotEmpty(string text, string key, string value) =>
            value.Length > 0 ? value : throw new FormatException($"'{text}': {key} needs a value");
    }
}
