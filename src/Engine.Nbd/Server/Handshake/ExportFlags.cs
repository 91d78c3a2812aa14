using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Handshake;

/// <summary>Turns an export's capabilities into transmission flags, in one place.</summary>
internal static class ExportFlags
{
    public static TransmissionFlags For(NbdExport export, bool structuredReplies)
    {
        var caps = export.Device.Capabilities;
        var flags = TransmissionFlags.HasFlags;
        if (export.ReadOnly)
        {
            flags |= TransmissionFlags.ReadOnly;
        }
        else
        {
            flags |= TransmissionFlags.SendFlush | TransmissionFlags.SendFua;
            if (caps.HasFlag(BlockDeviceCapabilities.Trim))
            {
                flags |= TransmissionFlags.SendTrim;
            }

            if (caps.HasFlag(BlockDeviceCapabilities.WriteZeroes))
            {
                // FAST_ZERO is advertised with WRITE_ZEROES: a device without a fast path answers ENOTSUP at once,
                // which is exactly what the flag lets a client ask for.
                flags |= TransmissionFlags.SendWriteZeroes | TransmissionFlags.SendFastZero;
            }
        }

        if (structuredReplies)
        {
            flags |= TransmissionFlags.SendDf;
        }

        if (caps.HasFlag(BlockDeviceCapabilities.MultiConnSafe))
        {
            flags |= TransmissionFlags.CanMultiConn;
        }

        flags |= TransmissionFlags.SendCache;
        return flags;
    }
}
