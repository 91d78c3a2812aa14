using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Transmission;

/// <summary>NBD_CMD_BLOCK_STATUS: one status chunk per selected meta context.</summary>
internal sealed partial class TransmissionSession
{
    /// <summary>Descriptors per chunk; the spec asks for at most 2^20, and clients loop on short replies.</summary>
    private const int MaxDescriptors = 1 << 16;

    private async ValueTask BlockStatusAsync(ReplyJob job)
    {
        var request = job.Request;
        var offset = (long)request.Offset;
        var length = (long)request.Length;
        var end = offset + length;
        var reqOne = (request.Flags & CommandFlags.ReqOne) != 0;
        var ids = _session.MetaContextIds;
        for (var i = 0; i < ids.Length; i++)
        {
            var context = _session.Export.MetaContexts[ids[i]]!;
            job.Extents.Clear();
            var covered = 0L;
            while (covered < length && job.Extents.Count < MaxDescriptors)
            {
                var n = await context.GetExtentsAsync(offset + covered, length - covered, job.Extents, _aborted).ConfigureAwait(false);
                if (n <= 0)
                {
                    throw new BlockDeviceException(Errno.EIO, $"meta context {context.Name} reported no extents at {offset + covered}");
                }

                covered += n;
                if (reqOne)
                {
                    break;
                }
            }

            var extents = job.Extents.AsSpan();
            var count = reqOne ? 1 : Math.Min(extents.Length, MaxDescriptors);
            while (count > 1 && extents[count - 1].Offset >= end)
            {
                count--;
            }

            var flags = i == ids.Length - 1 ? ReplyFlags.Done : ReplyFlags.None;
            if (_extended)
            {
                job.AppendChunkHeader(extended: true, flags, NbdReplyType.BlockStatusExtended, 8 + (16L * count));
                job.AppendUInt32(ids[i]);
                job.AppendUInt32((uint)count);
                for (var e = 0; e < count; e++)
                {
                    job.AppendUInt64((ulong)(Math.Min(extents[e].End, end) - extents[e].Offset));
                    job.AppendUInt32(0);
                    job.AppendUInt32((uint)extents[e].Flags);
                }
            }
            else
            {
                job.AppendChunkHeader(extended: false, flags, NbdReplyType.BlockStatus, 4 + (8L * count));
                job.AppendUInt32(ids[i]);
                for (var e = 0; e < count; e++)
                {
                    job.AppendUInt32((uint)(Math.Min(extents[e].End, end) - extents[e].Offset));
                    job.AppendUInt32((uint)extents[e].Flags);
                }
            }
        }
    }
}
