namespace Engine.Ova.Tests.Infrastructure;

/// <summary>Test disk images and the qemu-img reference conversions.</summary>
internal static class Images
{
    /// <summary>
    /// A sparse-looking image: about a third of its 64 KiB blocks random, the rest zero, and a non-zero tail sector
    /// (so a capacity that is not a grain multiple ends in a partial grain with data).
    /// </summary>
    public static byte[] Pattern(long size, int seed)
    {
        var image = new byte[size];
        var random = new Random(seed);
        for (long offset = 0; offset < size; offset += 65536)
        {
            if (random.Next(3) == 0)
            {
                random.NextBytes(image.AsSpan((int)offset, (int)Math.Min(65536, size - offset)));
            }
        }

        random.NextBytes(image.AsSpan((int)(size - 512), 512));
        return image;
    }

    public static string Write(string path, byte[] image, bool createFolder = false)
    {
        if (createFolder)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        }

        File.WriteAllBytes(path, image);
        return path;
    }

    /// <summary>qemu-img's VMDK of a raw image.</summary>
    public static async Task<string> QemuVmdkAsync(string raw, string vmdk, string subformat = "streamOptimized")
    {
        (await Tool.RunAsync("qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", "-o", $"subformat={subformat}", raw, vmdk)).AssertSuccess();
        return vmdk;
    }

    /// <summary>Converts <paramref name="vmdk"/> with qemu-img and checks <paramref name="output"/> against it with qemu-img compare.</summary>
    public static async Task AssertSameAsQemuAsync(string vmdk, string output)
    {
        var reference = output + ".qemu-reference";
        (await Tool.RunAsync("qemu-img", "convert", "-q", "-f", "vmdk", "-O", "raw", vmdk, reference)).AssertSuccess();
        try
        {
            var compare = await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", reference, output);
            Assert.True(compare.ExitCode == 0 && compare.Stdout.Contains("identical", StringComparison.Ordinal), compare.ToString());
            Assert.Equal(new FileInfo(reference).Length, new FileInfo(output).Length);
        }
        finally
        {
            File.Delete(reference);
        }
    }

    /// <summary>Builds an OVA with GNU tar from files in <paramref name="folder"/>, in the order given.</summary>
    public static async Task<string> TarAsync(string ova, string folder, string format, params string[] members)
    {
        (await Tool.RunAsync("tar", [$"--format={format}", "-C", folder, "-cf", ova, .. members])).AssertSuccess();
        return ova;
    }

    /// <summary>The gzip file of <paramref name="data"/>.</summary>
    public static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(buffer, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return buffer.ToArray();
    }

    /// <summary>An ovftool-style manifest line.</summary>
    public static string ManifestLine(string algorithm, string name, byte[] content)
    {
        var digest = algorithm switch
        {
#pragma warning disable CA5350 // OVF manifests from older exporters use SHA1; the tests must produce them.
            "SHA1" => System.Security.Cryptography.SHA1.HashData(content),
#pragma warning restore CA5350
            "SHA512" => System.Security.Cryptography.SHA512.HashData(content),
            _ => System.Security.Cryptography.SHA256.HashData(content),
        };
        return $"{algorithm}({name})= {Convert.ToHexStringLower(digest)}\n";
    }
}
