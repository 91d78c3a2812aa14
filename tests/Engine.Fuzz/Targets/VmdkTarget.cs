using Engine.Blocks.Devices;
using Engine.Fuzz.Support;
using Engine.Ova;
using Engine.Ova.Vmdk;

namespace Engine.Fuzz.Targets;

/// <summary>
/// The VMDK stream reader: a sparse VMDK (streamOptimized or monolithicSparse) is opened from a pipe and converted
/// into a sparse memory device, as the importer does from inside an OVA; a text descriptor is parsed.
/// </summary>
internal sealed class VmdkTarget : IFuzzTarget
{
    /// <summary>Smaller than the importer's limits, so that one run writes at most a few MiB.</summary>
    private static readonly VmdkLimits Limits = new() { MaxCapacityBytes = 64L << 20, MaxPrologueBytes = 1 << 20 };

    public string Name => "vmdk";

    public string Description => "VMDK: sparse header, embedded descriptor, streamOptimized grains and markers, monolithicSparse tables";

    public void Run(ReadOnlySpan<byte> input)
    {
        try
        {
            switch (ImageFormatDetector.Detect(input[..Math.Min(input.Length, SparseExtentHeader.Size)]))
            {
                case ImageFormat.SparseVmdk:
                    Convert(input.ToArray());
                    break;
                case ImageFormat.VmdkDescriptor:
                    VmdkDescriptor.Parse(input, "fuzz.vmdk").ValidateEmbedded("fuzz.vmdk", 1 << 20);
                    break;
                default:
                    break;
            }
        }
        catch (OvaFormatException)
        {
        }
    }

    private static void Convert(byte[] bytes)
    {
        var image = VmdkImage.Open(new PipeLikeStream(bytes), "fuzz.vmdk", Limits);
        var target = new MemoryBlockDevice(image.CapacityBytes);
        try
        {
            image.ConvertAsync(target, workers: 2, progress: null, CancellationToken.None).GetAwaiter().GetResult();
        }
        finally
        {
            target.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
