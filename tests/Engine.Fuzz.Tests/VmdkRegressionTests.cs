using Engine.Blocks.Devices;
using Engine.Ova;
using Engine.Ova.Vmdk;

namespace Engine.Fuzz.Tests;

/// <summary>
/// Sparse headers whose sector fields wrapped around 2^64 when added or scaled: one made the reader slice the
/// metadata at a negative offset (ArgumentOutOfRangeException, not the hostile-input error and exit code 65), the
/// other had the grain directory read from a sector the header does not name.
/// </summary>
public sealed class VmdkRegressionTests
{
    [Fact]
    public void Descriptor_offset_that_wraps_is_an_invalid_header()
    {
        using var source = new MemoryStream(FuzzInputs.Read("Regressions/vmdk/descriptor-offset-wraps.bin"));

        var error = Assert.Throws<OvaFormatException>(() => VmdkImage.Open(source, "disk.vmdk", VmdkLimits.Default));

        Assert.Equal("disk.vmdk: invalid VMDK header: embedded descriptor at sector 18446744073709551615 of 2 sectors (limit 2048, and before overHead 2)", error.Message);
    }

    [Fact]
    public async Task Grain_directory_offset_that_wraps_is_refused()
    {
        using var source = new MemoryStream(FuzzInputs.Read("Regressions/vmdk/grain-directory-offset-wraps.bin"));
        var image = VmdkImage.Open(source, "disk.vmdk", VmdkLimits.Default);
        await using var target = new MemoryBlockDevice(image.CapacityBytes);

        var error = await Assert.ThrowsAsync<OvaFormatException>(() => image.ConvertAsync(target, workers: 1, progress: null, CancellationToken.None));

        Assert.Equal("disk.vmdk: the grain directory (sector 36028797018963994) is not in the metadata area before the first grain; it cannot be read in one pass", error.Message);
    }
}
