using System.Runtime.CompilerServices;
using Engine.Sources;

namespace Engine.Provider.Protocol;

/// <summary>
/// A volume's <c>next-dirty-region</c> closure as <see cref="Api.BackupVmVolume.NextDirtyRegion"/>: pulled from the Perl
/// plugin a batch at a time, the next batch asked for only once the backup has consumed the previous one (one call
/// in flight per device). PVE's closure returns nbdinfo's extents one by one, so adjacent regions are merged into
/// one read here, and regions must ascend within the volume.
/// </summary>
internal static class DirtyRegionStream
{
    /// <summary>How many times the plugin calls the closure per round trip.</summary>
    public const int BatchSize = 4096;

    public static async IAsyncEnumerable<SourceRange> PullAsync(PeerCalls peer, string device, long? size, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var limit = size ?? long.MaxValue;
        long start = -1, end = -1, previousEnd = 0;
        while (true)
        {
            var batch = await peer.NextDirtyRegionAsync(device, BatchSize, cancellationToken).ConfigureAwait(false);
            foreach (var region in batch.Regions)
            {
                if (region.Offset < previousEnd || region.Offset > limit - region.Length)
                {
                    throw new ProtocolException($"{device}: next-dirty-region returned {region.Offset}+{region.Length}, which overlaps the previous region or ends past the volume size {limit}");
                }

                previousEnd = region.End;
                if (region.Length == 0)
                {
                    continue;
                }

                if (region.Offset == end)
                {
                    end = region.End;
                    continue;
                }

                if (start >= 0)
                {
                    yield return new SourceRange(start, end - start);
                }

                (start, end) = (region.Offset, region.End);
            }

            if (batch.End)
            {
                break;
            }

            if (batch.Regions.Count == 0)
            {
                throw new ProtocolException($"{device}: a next-dirty-region reply without regions must say end");
            }
        }

        if (start >= 0)
        {
            yield return new SourceRange(start, end - start);
        }
    }
}
