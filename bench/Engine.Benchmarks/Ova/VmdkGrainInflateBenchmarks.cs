using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Engine.Benchmarks.Support;
using Engine.Blocks.Devices;
using Engine.Ova.Vmdk;

namespace Engine.Benchmarks.Ova;

/// <summary>
/// Converting a streamOptimized VMDK (made by qemu-img, as VMware and VirtualBox exports are) from memory with one
/// worker into a device that discards writes: the marker walk plus one zlib inflate per 64 KiB grain. 64 MiB of
/// compressible data is 1,024 grains; reported per grain.
/// </summary>
[MemoryDiagnoser]
public class VmdkGrainInflateBenchmarks
{
    private const int ImageSize = 64 << 20;
    private const int GrainSize = 64 << 10;
    private const int Grains = ImageSize / GrainSize;

    private byte[] _vmdk = null!;

    [GlobalSetup]
    public void Setup()
    {
        using var scratch = new ScratchDirectory("vmdk");
        var raw = scratch.File("disk.raw");
        var vmdk = scratch.File("disk.vmdk");
        File.WriteAllBytes(raw, TestData.Compressible(ImageSize));
        using (var qemuImg = Process.Start("qemu-img", ["convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk]))
        {
            qemuImg.WaitForExit();
            if (qemuImg.ExitCode != 0)
            {
                throw new InvalidOperationException($"qemu-img convert to {vmdk} exited with {qemuImg.ExitCode} (Debian package qemu-utils)");
            }
        }

        _vmdk = File.ReadAllBytes(vmdk);
    }

    [Benchmark(OperationsPerInvoke = Grains)]
    public long Inflate()
    {
        var image = VmdkImage.Open(new MemoryStream(_vmdk, writable: false), "bench.vmdk", VmdkLimits.Default);
        var target = new NullBlockDevice(image.CapacityBytes);
        return image.ConvertAsync(target, workers: 1, progress: null, CancellationToken.None).GetAwaiter().GetResult();
    }
}
