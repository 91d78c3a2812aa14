namespace Engine.Interop.Tests.Tls;

/// <summary>
/// Pre-shared keys made with GnuTLS's psktool, as nbdkit, qemu and libnbd read them. <see cref="Directory"/> holds
/// <c>keys.psk</c> (the name qemu's <c>tls-creds-psk,dir=DIR</c> wants) with keys for <c>alice</c>, <c>bob</c> and
/// the local user; <see cref="WrongKeys"/> has an <c>alice</c> line with another key.
/// </summary>
internal sealed class TestPsk
{
    private TestPsk(string directory, string wrongKeys)
    {
        Directory = directory;
        WrongKeys = wrongKeys;
    }

    /// <summary>The directory with keys.psk, for qemu's <c>tls-creds-psk,dir=</c>.</summary>
    public string Directory { get; }

    /// <summary>keys.psk: alice, bob and the local user.</summary>
    public string Keys => Path.Combine(Directory, "keys.psk");

    /// <summary>A key file whose <c>alice</c> key differs from <see cref="Keys"/>'s.</summary>
    public string WrongKeys { get; }

    public static async Task<TestPsk> CreateAsync(TempDir dir)
    {
        var directory = System.IO.Directory.CreateDirectory(dir["psk"]).FullName;
        var wrong = System.IO.Directory.CreateDirectory(dir["psk-wrong"]).FullName;
        foreach (var user in (string[])["alice", "bob", Environment.UserName])
        {
            (await Tool.RunAsync("psktool", "-u", user, "-p", Path.Combine(directory, "keys.psk"))).AssertSuccess();
        }

        (await Tool.RunAsync("psktool", "-u", "alice", "-p", Path.Combine(wrong, "keys.psk"))).AssertSuccess();
        return new TestPsk(directory, Path.Combine(wrong, "keys.psk"));
    }
}
