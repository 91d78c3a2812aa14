using Engine.Backup;
using Engine.Backup.Repository.Formats;
using Engine.Fuzz.Support;

namespace Engine.Fuzz.Targets;

/// <summary>The binary <c>&lt;device&gt;.index</c> reader (trailer recomputed, see <see cref="Checksums"/>).</summary>
internal sealed class RepositoryIndexTarget : IFuzzTarget
{
    public string Name => "repository-index";

    public string Description => "repository device index (ENGINDEX header, digests, XxHash3 trailer recomputed)";

    public void Run(ReadOnlySpan<byte> input)
    {
        var path = Scratch.Write("device.index", Checksums.WithXxHash3Trailer(input));
        try
        {
            var index = DeviceIndexFile.Read(path, "scsi0", expectedChecksum: null);
            for (var chunk = 0; chunk < index.ChunkCount; chunk++)
            {
                _ = index.ChunkLength(chunk);
            }
        }
        catch (RepositoryCorruptException)
        {
        }
    }
}
