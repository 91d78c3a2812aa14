using System.Text.Json;
using Engine.Backup.Repository.Crypto;

namespace Engine.Backup.Tests.Crypto;

/// <summary>The contract of <c>engine key create|info|paper|restore-paper</c>, run as a separate process.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class KeyCliTests
{
    [Fact]
    public async Task Create_writes_a_raw_key_file_0600_and_info_describes_it_without_key_material()
    {
        using var dir = new TempDir();

        var create = await EngineCli.RunAsync("key", "create", "--out", dir["k"]);
        var info = await EngineCli.RunAsync("key", "info", dir["k"]);
        var json = await EngineCli.RunAsync("key", "info", dir["k"], "--json");

        create.AssertSuccess();
        using var key = RepositoryKeyFile.Load(dir["k"], null);
        Assert.Contains($"key {key.Id} written to {dir["k"]}, not wrapped", create.Stdout, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(dir["k"]));
        info.AssertSuccess();
        Assert.Contains($"id:      {key.Id}", info.Stdout, StringComparison.Ordinal);
        Assert.Contains("wrapped: no", info.Stdout, StringComparison.Ordinal);
        json.AssertSuccess();
        using var doc = JsonDocument.Parse(json.Stdout);
        Assert.Equal(key.Id, doc.RootElement.GetProperty("id").GetString());
        Assert.False(doc.RootElement.GetProperty("wrapped").GetBoolean());
        Assert.Equal("none", doc.RootElement.GetProperty("kdf").GetString());
        foreach (var output in new[] { create.Stdout, info.Stdout, json.Stdout })
        {
            Assert.DoesNotContain(Convert.ToBase64String(key.Material), output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_wrapped_key_needs_its_passphrase_and_a_wrong_one_exits_65_naming_the_file()
    {
        using var dir = new TempDir();
        await File.WriteAllTextAsync(dir["pass"], "s3cret passphrase\n");
        await File.WriteAllTextAsync(dir["wrong"], "not it\n");

        var create = await EngineCli.RunAsync("key", "create", "--out", dir["k"], "--passphrase-file", dir["pass"]);
        var info = await EngineCli.RunAsync("key", "info", dir["k"], "--json");
        var none = await EngineCli.RunAsync("key", "paper", dir["k"]);
        var wrong = await EngineCli.RunAsync("key", "paper", dir["k"], "--passphrase-file", dir["wrong"]);
        var fromEnvironment = await Tool.RunAsync("env", ["ENGINE_PASSPHRASE_FILE=" + dir["pass"], "dotnet", EngineCli.Dll, "key", "paper", dir["k"]], EngineCli.Timeout);

        create.AssertSuccess();
        Assert.Contains("wrapped with the passphrase (pbkdf2-sha256, 600000 iterations)", create.Stdout, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(info.AssertSuccess().Stdout);
        Assert.True(doc.RootElement.GetProperty("wrapped").GetBoolean());
        Assert.Equal(600_000, doc.RootElement.GetProperty("iterations").GetInt32());
        none.AssertFailure(64, $"key {dir["k"]} is protected by a passphrase").AssertNoRuntimeText();
        wrong.AssertFailure(65, $"engine key paper: wrong passphrase for key {dir["k"]}").AssertNoRuntimeText();
        Assert.Contains("1: ", fromEnvironment.AssertSuccess().Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Paper_and_restore_paper_rebuild_the_same_key()
    {
        using var dir = new TempDir();
        await File.WriteAllTextAsync(dir["pass"], "another one");
        await EngineCli.RunAsync("key", "create", "--out", dir["k"]).ContinueWith(t => t.Result.AssertSuccess(), TaskScheduler.Default);

        var paper = await EngineCli.RunAsync("key", "paper", dir["k"]);
        await File.WriteAllTextAsync(dir["page"], paper.AssertSuccess().Stdout);
        var restored = await EngineCli.RunAsync("key", "restore-paper", "--out", dir["restored"], "--passphrase-file", dir["pass"], dir["page"]);
        var fromStdin = await EngineCli.RunAsync(["key", "restore-paper", "--out", dir["stdin"]], dir["page"]);

        restored.AssertSuccess();
        fromStdin.AssertSuccess();
        using var original = RepositoryKeyFile.Load(dir["k"], null);
        using var fromPage = RepositoryKeyFile.Load(dir["restored"], dir["pass"]);
        using var fromPipe = RepositoryKeyFile.Load(dir["stdin"], null);
        Assert.Equal(original.Material.ToArray(), fromPage.Material.ToArray());
        Assert.Equal(original.Material.ToArray(), fromPipe.Material.ToArray());
        Assert.Equal(RepositoryKeyFile.Read(dir["k"]).Created, RepositoryKeyFile.Read(dir["restored"]).Created);
        Assert.True(RepositoryKeyFile.Read(dir["restored"]).IsWrapped);
    }

    [Fact]
    public async Task Failures_exit_64_usage_65_bad_key_file_66_missing_file_and_1_existing_file()
    {
        using var dir = new TempDir();
        await File.WriteAllTextAsync(dir["damaged"], "{\"version\": 1, \"id\": 42");
        await File.WriteAllTextAsync(dir["exists"], "keep me");
        await File.WriteAllTextAsync(dir["typo"], "1: 0000 0000 0000 0000  00\n");

        (await EngineCli.RunAsync("key", "create")).AssertFailure(64, "--out");
        (await EngineCli.RunAsync("key", "info")).AssertExitCode(64);
        (await EngineCli.RunAsync("key", "info", dir["damaged"])).AssertFailure(65, $"{dir["damaged"]}: damaged key file: not a JSON key file").AssertNoRuntimeText();
        (await EngineCli.RunAsync("key", "restore-paper", "--out", dir["x"], dir["typo"])).AssertFailure(65, $"{dir["typo"]}: not a valid paper key").AssertNoRuntimeText();
        (await EngineCli.RunAsync("key", "info", dir["missing"])).AssertFailure(66, $"{dir["missing"]}: no such key file").AssertNoRuntimeText();
        (await EngineCli.RunAsync("key", "restore-paper", "--out", dir["x"], dir["missing"])).AssertFailure(66, $"{dir["missing"]}: no such file").AssertNoRuntimeText();
        (await EngineCli.RunAsync("key", "create", "--out", dir["k"], "--passphrase-file", dir["missing"])).AssertFailure(66, $"{dir["missing"]}: no such passphrase file").AssertNoRuntimeText();
        (await EngineCli.RunAsync("key", "create", "--out", dir["exists"])).AssertFailure(1, $"{dir["exists"]}: exists; a key file is never overwritten").AssertNoRuntimeText();
        (await EngineCli.RunAsync("key", "create", "--out", dir["nodir"] + "/k")).AssertFailure(1, $"{dir["nodir"]}/k: no such file or directory").AssertNoRuntimeText();
        Assert.Equal("keep me", await File.ReadAllTextAsync(dir["exists"]));
        Assert.False(File.Exists(dir["k"]));
    }
}
