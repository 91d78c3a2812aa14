using Engine.Blocks;
using Engine.Blocks.Copying;

namespace Engine.Ova.Import;

/// <summary>Copies a raw image from a stream to a sparse target, leaving zero blocks as holes.</summary>
internal static class RawImageCopier
{
    private const int ChunkBytes = 64 << 10;

    /// <summary>Copies until the stream ends; more bytes than the target holds is an error.</summary>
    /// <returns>Bytes of data written.</returns>
    public static async Task<long> CopyAsync(Stream source, IBlockDevice target, string name, CancellationToken cancellationToken)
    {
        using var writer = new SparseRunWriter(target, ChunkBytes);
        long offset = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (source is IHoleSkipping holes && Math.Min(holes.HoleAhead, target.Size - offset) is > 0 and var hole)
            {
                // Known zeros (a sparse member's gap): leave them as a hole without reading or scanning them.
                holes.SkipHole(hole);
                offset += hole;
                continue;
            }

            var length = (int)Math.Min(ChunkBytes, target.Size - offset);
            if (length == 0)
            {
                if (source.ReadByte() >= 0)
                {
                    throw new OvaFormatException($"{name}: the raw image is larger than its declared {target.Size} bytes");
                }

                break;
            }

            var slot = await writer.GetSlotAsync(offset, length, cancellationToken);
            var read = source.ReadAtLeast(slot.Span, length, throwOnEndOfStream: false);
            if (read == 0)
            {
                break;
            }

            await writer.CommitAsync(offset, read, cancellationToken);
            offset += read;
            if (read < length)
            {
                break;
            }
        }

        await writer.FlushAsync(cancellationToken);
        return writer.DataBytes;
    }
}
