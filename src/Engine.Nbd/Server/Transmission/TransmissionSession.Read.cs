using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Transmission;

/// <summary>
/// NBD_CMD_READ. With structured replies the range is described by the device's extents: zero extents become
/// OFFSET_HOLE chunks, the rest OFFSET_DATA chunks. Data of file-backed exports goes from the page cache to the
/// socket with sendfile(2); other devices read into a pooled buffer that the writer sends without copying.
/// </summary>
internal sealed partial class TransmissionSession
{
    /// <summary>
    /// Reads below this size skip the extent lookup and sendfile(2): for a few KiB, two lseeks and a second send cost
    /// more than the copy they save, and latency is what small reads are about. They go out as one data chunk.
    /// </summary>
    private const int SmallReadLimit = 64 << 10;

    /// <summary>Answers a read of a file-backed export on the reader thread; no data is touched in user space.</summary>
    private void ReadWithSendFile(ReplyJob job)
    {
        try
        {
            var length = (int)job.Request.Length;
            if (length is > 0 and < SmallReadLimit)
            {
                job.Buffer = Blocks.Buffers.BufferPool.Shared.Rent(length);
                var read = _device.ReadAsync((long)job.Request.Offset, job.Buffer.Memory, _aborted);
                if (!read.IsCompletedSuccessfully)
                {
                    read.AsTask().GetAwaiter().GetResult();
                }

                job.Extents.Add((long)job.Request.Offset, length, ExtentFlags.Data);
                ComposeRead(job, useFile: false);
                return;
            }

            var layout = DescribeReadAsync(job);
            if (!layout.IsCompletedSuccessfully)
            {
                // Only devices with synchronous extents expose sendfile; anything else is waited for here.
                layout.AsTask().GetAwaiter().GetResult();
            }

            if (_fileRanges is not null && !DataLiesInFile(job))
            {
                // Part of the data is not stored as it reads (compressed, in a backing file): through the device.
                ReadOnReader(job);
                return;
            }

            ComposeRead(job, useFile: true);
        }
        catch (Exception ex)
        {
            Fail(job, ex);
        }
    }

    /// <summary>
    /// Answers a read of a file-backed export into a pooled buffer on the reader thread (under TLS, where sendfile
    /// cannot be used): the device's reads are preads that complete before they return.
    /// </summary>
    private void ReadOnReader(ReplyJob job)
    {
        try
        {
            var read = ReadAsync(job);
            if (!read.IsCompletedSuccessfully)
            {
                read.AsTask().GetAwaiter().GetResult();
            }
        }
        catch (Exception ex)
        {
            Fail(job, ex);
        }
    }

    /// <summary>Reads of exports without sendfile: only the data extents are read, into one pooled buffer.</summary>
    private async ValueTask ReadAsync(ReplyJob job)
    {
        await DescribeReadAsync(job).ConfigureAwait(false);
        var offset = (long)job.Request.Offset;
        var length = (int)job.Request.Length;
        if (length > 0)
        {
            job.Buffer = Blocks.Buffers.BufferPool.Shared.Rent(length);
            for (var i = 0; i < job.Extents.Count; i++)
            {
                var extent = job.Extents.AsSpan()[i];
                if (!IsZero(extent))
                {
                    var start = (int)(extent.Offset - offset);
                    await _device.ReadAsync(extent.Offset, job.Buffer.Memory.Slice(start, (int)extent.Length), _aborted).ConfigureAwait(false);
                }
            }
        }

        ComposeRead(job, useFile: false);
    }

    /// <summary>Fills <see cref="ReplyJob.Extents"/> with extents covering exactly the requested range.</summary>
    private async ValueTask DescribeReadAsync(ReplyJob job)
    {
        var offset = (long)job.Request.Offset;
        var length = (long)job.Request.Length;
        job.Extents.Clear();
        if (length == 0)
        {
            return;
        }

        // Bit tests rather than Enum.HasFlag throughout the request path: until a method tiers up, its unoptimised
        // code boxes both operands of HasFlag, two allocations per request (SteadyStateAllocationTests saw them).
        if (!_structured || (job.Request.Flags & CommandFlags.DontFragment) != 0 || (_capabilities & BlockDeviceCapabilities.Extents) == 0)
        {
            job.Extents.Add(offset, length, ExtentFlags.Data);
            return;
        }

        var covered = 0L;
        while (covered < length)
        {
            var n = await _device.GetExtentsAsync(offset + covered, length - covered, job.Extents, _aborted).ConfigureAwait(false);
            if (n <= 0 || n > length - covered)
            {
                throw new BlockDeviceException(Errno.EIO, $"device reported {n} bytes of extents at {offset + covered}");
            }

            covered += n;
        }
    }

    private void ComposeRead(ReplyJob job, bool useFile)
    {
        var offset = (long)job.Request.Offset;
        var extents = job.Extents.AsSpan();
        if (!_structured)
        {
            job.AppendSimpleReply(NbdError.None);
            AppendData(job, offset, offset, job.Request.Length, useFile);
            return;
        }

        if (extents.Length == 0)
        {
            job.AppendChunkHeader(_extended, ReplyFlags.Done, NbdReplyType.None, 0);
            return;
        }

        for (var i = 0; i < extents.Length; i++)
        {
            var extent = extents[i];
            var flags = i == extents.Length - 1 ? ReplyFlags.Done : ReplyFlags.None;
            if (IsZero(extent))
            {
                job.AppendChunkHeader(_extended, flags, NbdReplyType.OffsetHole, 12);
                job.AppendUInt64((ulong)extent.Offset);
                job.AppendUInt32((uint)extent.Length);
            }
            else
            {
                job.AppendChunkHeader(_extended, flags, NbdReplyType.OffsetData, 8 + extent.Length);
                job.AppendUInt64((ulong)extent.Offset);
                AppendData(job, offset, extent.Offset, (ulong)extent.Length, useFile);
            }
        }
    }

    /// <summary>Whether every data extent of the read lies plainly in the file of an <see cref="Blocks.Devices.IFileRangeSource"/>.</summary>
    private bool DataLiesInFile(ReplyJob job)
    {
        foreach (var extent in job.Extents.AsSpan())
        {
            if (IsZero(extent))
            {
                continue;
            }

            for (var position = extent.Offset; position < extent.Offset + extent.Length;)
            {
                var run = _fileRanges!.MapToFile(position, extent.Offset + extent.Length - position, out _);
                if (run <= 0)
                {
                    return false;
                }

                position += run;
            }
        }

        return true;
    }

    private void AppendData(ReplyJob job, long requestOffset, long offset, ulong length, bool useFile)
    {
        if (length == 0)
        {
            return;
        }

        if (useFile && _fileRanges is not null)
        {
            // Checked by DataLiesInFile: every byte maps, one file segment per run contiguous in the file.
            for (var end = offset + (long)length; offset < end;)
            {
                var run = _fileRanges.MapToFile(offset, end - offset, out var fileOffset);
                if (run <= 0)
                {
                    throw new BlockDeviceException(Errno.EIO, $"the data at {offset} no longer lies in the export's file");
                }

                job.AppendFileData(fileOffset, run);
                offset += run;
            }
        }
        else if (useFile)
        {
            job.AppendFileData(offset, (long)length);
        }
        else
        {
            job.AppendBufferData((int)(offset - requestOffset), (int)length);
        }
    }

    private static bool IsZero(in Extent extent) => (extent.Flags & ExtentFlags.Zero) != 0;
}
