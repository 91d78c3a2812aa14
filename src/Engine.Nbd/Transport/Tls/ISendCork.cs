namespace Engine.Nbd.Transport.Tls;

/// <summary>
/// Holds back a stream's small writes while corked and sends them together when uncorked, as TCP_CORK does for a
/// socket: SslStream writes every 16 KiB record to its inner stream on its own, and a reply of many records then
/// costs one send(2) per record unless something below gathers them.
/// </summary>
internal interface ISendCork
{
    /// <summary>From now on, writes gather in a buffer (sent when it fills).</summary>
    void Cork();

    /// <summary>Sends whatever was gathered; writes go straight out again.</summary>
    void Uncork();
}
