using System.Text;
using Engine.Sources;

namespace Engine.Fuzz.Targets;

/// <summary>
/// The dirty map reader: text in the layout of <c>nbdinfo --map=qemu:dirty-bitmap:NAME</c>, as <c>engine backup</c>
/// reads it for <c>#dirty-map=FILE</c>, streamed for a 1 GiB volume.
/// </summary>
internal sealed class DirtyMapTarget : IFuzzTarget
{
    private const long VolumeSize = 1L << 30;

    public string Name => "dirty-map";

    public string Description => "dirty map text (nbdinfo --map layout: offset, length, type, description)";

    public void Run(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        try
        {
            Drain(DirtyMapReader.ReadAsync(new StringReader(text), "fuzz.map", VolumeSize)).GetAwaiter().GetResult();
        }
        catch (FormatException)
        {
        }
    }

    private static async Task Drain(IAsyncEnumerable<SourceRange> regions)
    {
        await foreach (var region in regions.ConfigureAwait(false))
        {
            if (region.Length <= 0 || region.Offset < 0 || region.Offset > VolumeSize - region.Length)
            {
                throw new InvalidOperationException($"the reader returned the region {region.Offset}+{region.Length} of a {VolumeSize}-byte volume");
            }
        }
    }
}
