using System.Buffers;
using Engine.Blocks.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Engine.Blocks.Devices;

/// <summary>
/// O_DIRECT I/O. The kernel wants offset, length and memory address all aligned to the logical block size; callers
/// only guarantee the offset. Unaligned memory goes through pooled, page-aligned bounce buffers. A sub-block tail of a
/// write goes through a second, buffered descriptor on the same file: the kernel writes back and invalidates cached
/// pages around every direct read and write of the range, so the two stay coherent without a read-modify-write here
/// (which would race with concurrent writes to the same block, and would extend a file whose size is not aligned).
/// </summary>
public sealed partial class FileBlockDevice
{
    // Large enough to keep a disk busy, small enough that a bounce buffer is a cheap pool level.
    private const int BounceChunkSize = 4 << 20;

    private readonly SafeFileHandle? _tailHandle;
    private readonly int _sectorSize;

    private async ValueTask ReadDirectAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        CheckAligned(offset, "read");
        using (var pin = destination.Pin())
        {
            // The pin stays in place across the read so that the GC cannot move the memory after the check.
            if (IsAligned(pin, destination.Length))
            {
                await ReadFullyAsync(_handle, offset, destination, cancellationToken);
                return;
            }
        }

        while (!destination.IsEmpty)
        {
            var count = Math.Min(destination.Length, BounceChunkSize);
            using var bounce = BufferPool.Shared.Rent(RoundUp(count));

            // Rounding the length up reads at most into the last block of the file, which the kernel returns short.
            await ReadFullyAsync(_handle, offset, bounce.Memory, cancellationToken);
            bounce.Span[..count].CopyTo(destination.Span);
            destination = destination[count..];
            offset += count;
        }
    }

    private async ValueTask WriteDirectAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        CheckAligned(offset, "write");
        var aligned = source.Length & ~(MinimumBlockSize - 1);
        var body = source[..aligned];
        var tail = source[aligned..];
        var direct = false;
        using (var pin = body.Pin())
        {
            if (IsAligned(pin, body.Length))
            {
                direct = true;
                await RandomAccess.WriteAsync(_handle, body, offset, cancellationToken);
            }
        }

        if (!direct)
        {
            var at = offset;
            while (!body.IsEmpty)
            {
                var count = Math.Min(body.Length, BounceChunkSize);
                using var bounce = BufferPool.Shared.Rent(count);
                body.Span[..count].CopyTo(bounce.Span);
                await RandomAccess.WriteAsync(_handle, bounce.Memory, at, cancellationToken);
                body = body[count..];
                at += count;
            }
        }

        if (!tail.IsEmpty)
        {
            await RandomAccess.WriteAsync(_tailHandle!, tail, offset + aligned, cancellationToken);
        }
    }

    private void CheckAligned(long offset, string operation)
    {
        if ((offset & (MinimumBlockSize - 1)) != 0)
        {
            throw new BlockDeviceException(
                Errno.EINVAL,
                $"{operation} on {Path} at {offset}: O_DIRECT needs offsets that are multiples of {MinimumBlockSize}");
        }
    }

    private unsafe bool IsAligned(MemoryHandle pin, int length) =>
        (((nuint)pin.Pointer | (nuint)length) & (nuint)(MinimumBlockSize - 1)) == 0;

    private int RoundUp(int length) => (length + MinimumBlockSize - 1) & ~(MinimumBlockSize - 1);
}
