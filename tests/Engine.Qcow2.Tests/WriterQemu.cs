namespace Engine.Qcow2.Tests;

/// <summary>What the writer tests ask of qemu: a clean <c>qemu-img check</c>, and equal guest contents.</summary>
internal static class WriterQemu
{
    /// <summary>Fails unless <c>qemu-img check</c> finds no errors and no leaks.</summary>
    public static async Task AssertCleanAsync(string image)
    {
        var check = await Tool.RunAsync("qemu-img", "check", "-f", "qcow2", image);
        check.AssertSuccess();
        Assert.Contains("No errors were found on the image.", check.Stdout, StringComparison.Ordinal);
    }

    /// <summary>Fails unless the qcow2 image reads exactly as <paramref name="expected"/> (a raw file or a qcow2 image).</summary>
    public static async Task AssertSameAsync(string image, string expected, string expectedFormat = "raw") =>
        (await Tool.RunAsync("qemu-img", "compare", "-f", "qcow2", "-F", expectedFormat, image, expected)).AssertSuccess();

    /// <summary>Bytes that never repeat a pattern qemu could mistake for zeroes.</summary>
    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
