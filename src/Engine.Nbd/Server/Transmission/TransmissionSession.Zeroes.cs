using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Transmission;

/// <summary>NBD_CMD_WRITE_ZEROES with NO_HOLE, FAST_ZERO and FUA.</summary>
internal sealed partial class TransmissionSession
{
    private async ValueTask WriteZeroesAsync(ReplyJob job)
    {
        var request = job.Request;
        var flags = request.Flags.HasFlag(CommandFlags.NoHole) ? WriteZeroesFlags.None : WriteZeroesFlags.MayPunchHole;
        if (request.Flags.HasFlag(CommandFlags.Fua))
        {
            flags |= WriteZeroesFlags.Fua;
        }

        if (request.Flags.HasFlag(CommandFlags.FastZero))
        {
            if (!_capabilities.HasFlag(BlockDeviceCapabilities.FastZero))
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
