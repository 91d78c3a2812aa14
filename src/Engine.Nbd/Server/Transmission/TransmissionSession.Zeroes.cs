using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Transmission;

/// <summary>NBD_CMD_WRITE_ZEROES with NO_HOLE, FAST_ZERO and FUA.</summary>
internal sealed partial class TransmissionSession
{
    private async ValueTask WriteZeroesAsync(ReplyJob job)
    {
        var request = job.Request;
        var flags = (request.Flags & CommandFlags.NoHole) != 0 ? WriteZeroesFlags.None : WriteZeroesFlags.MayPunchHole;
        if ((request.Flags & CommandFlags.Fua) != 0)
        {
            flags |= WriteZeroesFlags.Fua;
        }

        if ((request.Flags & CommandFlags.FastZero) != 0)
        {
            if ((_capabilities & BlockDeviceCapabilities.FastZero) == 0)
            {
                // The point of FAST_ZERO is to fail at once when zeroing would be as slow as writing.
                AppendError(job, NbdError.NotSupported, "zeroing is not faster than writing on this export");
                return;
            }

            flags |= WriteZeroesFlags.FastOnly;
        }

        await _device.WriteZeroesAsync((long)request.Offset, (long)request.Length, flags, _aborted).ConfigureAwait(false);
        AppendSuccess(job);
    }
}
