using System.Buffers;
using System.Buffers.Binary;
using Engine.Blocks;
using Engine.Blocks.Copying;

namespace Engine.Ova.Vmdk;

/// <summary>
/// Converts a monolithicSparse VMDK in one forward pass: the grain directory and tables sit in the metadata area
/// read by <see cref="VmdkImage.Open"/>, so the file offset of every grain is known before the first grain passes;
/// grains are then copied in file order to their LBA.
/// </summary>
internal sealed class MonolithicSparseConverter(Stream source, string name, SparseExtentHeader header, byte[] prologue, IBlockDevice target, IProgress<long>? progress)
{
    public async Task<long> RunAsync(CancellationToken cancellationToken)
    {
        var grains = MapGrains();
        using var writer = new SparseRunWriter(target, header.GrainBytes);
        var position = (long)prologue.Length;
        var capacity = header.CapacityBytes;
        var grainBytes = header.GrainBytes;
        foreach (var (sector, offset) in grains)
        {
            cancellationToken.ThrowIfCancellationRequested();
            position += Skip(sector * 512 - position);
            var length = (int)Math.Min(grainBytes, capacity - offset);
            var slot = await writer.GetSlotAsync(offset, length, cancellationToken);
            if (source.ReadAtLeast(slot.Span, length, throwOnEndOfStream: false) < length)
            {
                throw new OvaFormatException($"{name}: truncated: the grain for LBA {offset / 512} at file offset {position} is incomplete");
            }

            position += length;
            await writer.CommitAsync(offset, length, cancellationToken);
            progress?.Report(position);
        }

        await writer.FlushAsync(cancellationToken);
        return writer.DataBytes;
    }

    /// <summary>(file sector, virtual byte offset) of every allocated grain, sorted by file sector.</summary>
    private List<(long Sector, long Offset)> MapGrains()
    {
        var perTable = header.NumGtesPerGt;
        var tableCoverage = (ulong)perTable * header.GrainSize;
        var directoryEntries = (header.Capacity + tableCoverage - 1) / tableCoverage;
        if (header.GdOffset > (ulong)prologue.Length / 512 || header.GdOffset * 512 + directoryEntries * 4 > (ulong)prologue.Length)
        {
            throw new OvaFormatException($"{name}: the grain directory (sector {header.GdOffset}) is not in the metadata area before the first grain; it cannot be read in one pass");
        }

        var zeroedGrains = (header.Flags & SparseExtentHeader.FlagZeroedGrain) != 0;
        var grains = new List<(long, long)>();
        var directory = prologue.AsSpan((int)(header.GdOffset * 512), (int)(directoryEntries * 4));
        for (var i = 0; i < (int)directoryEntries; i++)
        {
            var tableSector = BinaryPrimitives.ReadUInt32LittleEndian(directory[(i * 4)..]);
            if (tableSector == 0)
            {
                continue;
            }

            if ((ulong)tableSector * 512 + perTable * 4UL > (ulong)prologue.Length)
            {
                throw new OvaFormatException($"{name}: grain table {i} at sector {tableSector} is not in the metadata area before the first grain");
            }

            var table = prologue.AsSpan((int)tableSector * 512, (int)perTable * 4);
            for (var j = 0; j < perTable; j++)
            {
                var entry = BinaryPrimitives.ReadUInt32LittleEndian(table[(j * 4)..]);
                if (entry == 0 || (entry == 1 && zeroedGrains))
                {
                    continue;
                }

                var lba = ((ulong)i * perTable + (ulong)j) * header.GrainSize;
                if (lba >= header.Capacity)
                {
                    throw new OvaFormatException($"{name}: grain table {i} maps LBA {lba}, past the capacity of {header.Capacity} sectors");
                }

                if (entry < header.OverHead)
                {
                    throw new OvaFormatException($"{name}: grain for LBA {lba} at sector {entry} overlaps the metadata area");
                }

                grains.Add((entry, (long)lba * 512));
            }
        }

        grains.Sort(static (a, b) => a.Item1.CompareTo(b.Item1));
        for (var k = 1; k < grains.Count; k++)
        {
            if (grains[k].Item1 < grains[k - 1].Item1 + (long)header.GrainSize)
            {
                throw new OvaFormatException($"{name}: grains at sectors {grains[k - 1].Item1} and {grains[k].Item1} overlap");
            }
        }

        return grains;
    }

    private long Skip(long count)
    {
        if (count < 0)
        {
            throw new InvalidOperationException("grains are visited in file order");
        }

        var scratch = ArrayPool<byte>.Shared.Rent(64 << 10);
        try
        {
            var left = count;
            while (left > 0)
            {
                var read = source.Read(scratch, 0, (int)Math.Min(scratch.Length, left));
                if (read == 0)
                {
                    throw new OvaFormatException($"{name}: truncated before a grain it maps");
                }

                left -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }

        return count;
    }
}
