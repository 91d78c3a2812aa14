using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Handshake;

/// <summary>Reply format options: NBD_OPT_STRUCTURED_REPLY and NBD_OPT_EXTENDED_HEADERS.</summary>
internal sealed partial class HandshakeSession
{
    private void HandleReplyFormat(NbdOption option, ReadOnlySpan<byte> data)
    {
        if (data.Length != 0)
        {
            SendError(option, NbdOptionReply.ErrInvalid, $"{option} takes no data");
            return;
        }

        if (option == NbdOption.StructuredReply)
        {
            if (_extended)
            {
                SendError(option, NbdOptionReply.ErrExtendedHeaderRequired, "extended headers are already in use");
                return;
            }

            _structured = true;
        }
        else
        {
            _extended = true;
        }

        SendAck(option);
    }
}
