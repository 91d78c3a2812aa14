using System.Globalization;
using System.Security.Cryptography;

namespace Engine.Provider.Tests.Infrastructure;

/// <summary>A VM disk as PVE has it: a qcow2 image with a persistent dirty bitmap that qemu-io writes dirty.</summary>
internal sealed class VmDisk(TempDir dir, string device, string image, long size)
{
    public const string Bitmap = "engine-provider";

    public string Device { get; } = device;

    public string Image { get; } = image;

    /// <summary>The virtual size, as PVE passes it to <c>backup_vm_query_incremental</c>.</summary>
    public long Size { get; private set; } = size;

    public static async Task<VmDisk> CreateAsync(TempDir dir, string device, long size, int seed, params (long Offset, int Length)[] data)
    {
        var raw = dir[device + ".seed.raw"];
        using (var handle = File.OpenHandle(raw, FileMode.Create, FileAccess.Write))
        {
            RandomAccess.SetLength(handle, size);
            var random = new Random(seed);
            foreach (var (offset, length) in data)
            {
                var bytes = new byte[length];
                random.NextBytes(bytes);
                RandomAccess.Write(handle, bytes, offset);
            }
        }

        var image = dir[device + ".qcow2"];
        (await Tool.RunAsync("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, image)).AssertSuccess();
        File.Delete(raw);
        (await Tool.RunAsync("qemu-img", "bitmap", "--add", "--enable", image, Bitmap)).AssertSuccess();
        return new VmDisk(dir, device, image, size);
    }

    /// <summary>Guest writes, one qemu-io command each; they dirty the bitmap.</summary>
    public async Task WriteAsync(params string[] commands)
    {
        var args = new List<string> { "-f", "qcow2" };
        foreach (var command in commands)
        {
            args.Add("-c");
            args.Add(command);
        }

        args.Add(Image);
        (await Tool.RunAsync("qemu-io", [.. args])).AssertSuccess();
    }

    /// <summary>What QEMU does when <c>backup_vm</c> returned: the bitmap starts over.</summary>
    public async Task CommitBitmapAsync() =>
        (await Tool.RunAsync("qemu-img", "bitmap", "--clear", Image, Bitmap)).AssertSuccess();

    /// <summary>What PVE does for <c>bitmap-mode new</c>: the bitmap is recreated.</summary>
    public async Task RecreateBitmapAsync()
    {
        (await Tool.RunAsync("qemu-img", "bitmap", "--remove", Image, Bitmap)).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "bitmap", "--add", "--enable", Image, Bitmap)).AssertSuccess();
    }

    public async Task ResizeAsync(long size)
    {
        (await Tool.RunAsync("qemu-img", "resize", "-f", "qcow2", Image, size.ToString(CultureInfo.InvariantCulture))).AssertSuccess();
        Size = size;
    }

    /// <summary>The disk's content now, as a raw file for qemu-img compare.</summary>
    public async Task<string> CaptureAsync(string name)
    {
        var path = dir[Device + "." + name + ".raw"];
        (await Tool.RunAsync("qemu-img", "convert", "-f", "qcow2", "-O", "raw", Image, path)).AssertSuccess();
        return path;
    }

    public Task<QemuNbdExport> ExportAsync(bool bitmap = true) =>
        QemuNbdExport.StartAsync(Image, Device, bitmap ? Bitmap : null, dir[Device + "-" + RandomNumberGenerator.GetHexString(6) + ".sock"]);
}
