using System.Buffers;

namespace Engine.Ova.Import;

/// <summary>
/// Copies a file out as stored (<c>--extract</c>) into a sparse file: known holes are stepped over, all-zero blocks are
/// seeked over instead of written, and the length is set at the end so a trailing hole is kept.
/// </summary>
internal static class SparseFileCopier
{
    private const int BlockBytes = 64 << 10;
    private const int BufferBytes = 1 << 20;

    /// <summary>Copies <paramref name="source"/> to its end into <paramref name="target"/> (positioned at 0).</summary>
    /// <returns>The file's length.</returns>
    public static async Task<long> CopyAsync(Stream source, FileStream target, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
        try
        {
            long length = 0;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (source is IHoleSkipping holes && holes.HoleAhead is > 0 and var hole)
                {
                    holes.SkipHole(hole);
                    length += hole;
                    continue;
                }

                var read = await source.ReadAtLeastAsync(buffer.AsMemory(0, BufferBytes), BufferBytes, throwOnEndOfStream: false, cancellationToken);
                if (read == 0)
                {
                    break;
                }

                await WriteDataAsync(target, buffer.AsMemory(0, read), length, cancellationToken);
                length += read;
                if (read < BufferBytes)
                {
                    break;
                }
            }

            target.SetLength(length);
            return length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Writes the non-zero blocks of <paramref name="data"/> at <paramref name="offset"/>, each run with one write.</summary>
    private static async Task WriteDataAsync(FileStream target, ReadOnlyMemory<byte> data, long offset, CancellationToken cancellationToken)
    {
        var runStart = -1;
        for (var at = 0; at < data.Length; at += BlockBytes)
        {
            var zero = data.Span.Slice(at, Math.Min(BlockBytes, data.Length - at)).IndexOfAnyExcept((byte)0) < 0;
            if (!zero && runStart < 0)
            {
                runStart = at;
            }
            else if (zero && runStart >= 0)
            {
                await WriteAtAsync(target, data[runStart..at], offset + runStart, cancellationToken);
                runStart = -1;
            }
        }

        if (runStart >= 0)
        {
            await WriteAtAsync(target, data[runStart..], offset + runStart, cancellationToken);
        }
    }

    private static async Task WriteAtAsync(FileStream target, ReadOnlyMemory<byte> data, long offset, CancellationToken cancellationToken)
    {
        target.Position = offset;
        await target.WriteAsync(data, cancellationToken);
    }
}
