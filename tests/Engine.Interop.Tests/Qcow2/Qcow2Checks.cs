namespace Engine.Interop.Tests.Qcow2;

/// <summary>What the qcow2 CLI tests ask of qemu about an image Engine wrote.</summary>
internal static class Qcow2Checks
{
    /// <summary>Fails unless <c>qemu-img check</c> finds no errors and no leaks.</summary>
    public static async Task AssertCleanAsync(string image)
    {
        var check = await Tool.RunAsync("qemu-img", "check", "-f", "qcow2", image);
        check.AssertSuccess();
        Assert.Contains("No errors were found on the image.", check.Stdout, StringComparison.Ordinal);
    }

    /// <summary>Fails unless the two images hold the same guest bytes.</summary>
    public static async Task AssertSameAsync(string image, string imageFormat, string other, string otherFormat) =>
        (await Tool.RunAsync("qemu-img", "compare", "-f", imageFormat, "-F", otherFormat, image, other)).AssertSuccess();

    /// <summary>Starts <c>engine serve FILE</c> on the directory's socket and waits for its URI.</summary>
    public static async Task<RunningTool> ServeAsync(TempDir dir, string file)
    {
        var engine = EngineCli.Start("serve", "--format", "qcow2", file, "--socket", dir.Socket);
        await engine.WaitUntilAsync(() => engine.Stdout.Contains("nbd+unix://", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the URI on stdout");
        return engine;
    }

    /// <summary>The export's URI for qemu tools.</summary>
    public static string Uri(TempDir dir) => $"nbd+unix:///?socket={dir.Socket}";

    /// <summary>Runs qemu-io on the export (raw over NBD) with the commands given.</summary>
    public static Task<ToolResult> QemuIoAsync(string target, string format, params string[] commands) =>
        Tool.RunAsync("qemu-io", ["-f", format, .. commands.SelectMany(c => new[] { "-c", c }), target], Tool.DefaultTimeout);
}
