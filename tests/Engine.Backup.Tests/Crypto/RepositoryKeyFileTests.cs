using System.Text;
using System.Text.Json.Nodes;
using Engine.Backup.Repository.Crypto;

namespace Engine.Backup.Tests.Crypto;

/// <summary>The key file: raw and wrapped round trips, mode 0600, and every way of failing names the file.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RepositoryKeyFileTests
{
    /// <summary>The least the loader accepts, to keep the tests fast; the CLI uses <see cref="RepositoryKeyFile.DefaultIterations"/>.</summary>
    private const int FastIterations = 100_000;

    private static readonly DateTimeOffset Created = new(2026, 12, 6, 14, 55, 0, TimeSpan.Zero);
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("correct horse battery staple");

    [Fact]
    public void A_raw_key_file_gives_the_same_key_back_and_is_mode_0600()
    {
        using var dir = new TempDir();
        using var key = RepositoryKey.Generate();

        var file = RepositoryKeyFile.Create(dir["k"], key, [], Created);
        using var loaded = RepositoryKeyFile.Load(dir["k"], passphraseFile: null);

        Assert.False(file.IsWrapped);
        Assert.Equal(key.Id, loaded.Id);
        Assert.Equal(key.Material.ToArray(), loaded.Material.ToArray());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(dir["k"]));
        var json = JsonNode.Parse(File.ReadAllText(dir["k"]))!;
        Assert.Equal(1, (int)json["version"]!);
        Assert.Equal(key.Id, (string)json["id"]!);
        Assert.Equal("none", (string)json["kdf"]!);
        Assert.Equal(Created, RepositoryKeyFile.Read(dir["k"]).Created);
    }

    [Fact]
    public void A_wrapped_key_file_holds_no_key_material_and_unlocks_with_its_passphrase()
    {
        using var dir = new TempDir();
        using var key = RepositoryKey.Generate();

        var file = RepositoryKeyFile.Create(dir["k"], key, Secret, Created, FastIterations);
        using var loaded = RepositoryKeyFile.Read(dir["k"]).Unlock(Secret);

        Assert.True(file.IsWrapped);
        Assert.Equal(key.Material.ToArray(), loaded.Material.ToArray());
        var text = File.ReadAllText(dir["k"]);
        Assert.DoesNotContain(Convert.ToBase64String(key.Material), text, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(key.Material), text, StringComparison.OrdinalIgnoreCase);
        var json = JsonNode.Parse(text)!;
        Assert.Equal("pbkdf2-sha256", (string)json["kdf"]!);
        Assert.Equal(FastIterations, (int)json["iterations"]!);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(dir["k"]));
    }

    [Fact]
    public void A_wrong_passphrase_says_so_naming_the_file()
    {
        using var dir = new TempDir();
        using var key = CreateWrapped(dir["k"]);

        var e = Assert.Throws<KeyFileException>(() => RepositoryKeyFile.Read(dir["k"]).Unlock("Correct horse battery staple"u8));

        Assert.Equal(KeyFileProblem.WrongPassphrase, e.Problem);
        Assert.Equal($"wrong passphrase for key {dir["k"]}", e.Message);
    }

    [Fact]
    public void A_wrapped_key_without_a_passphrase_asks_for_one()
    {
        using var dir = new TempDir();
        using var key = CreateWrapped(dir["k"]);

        var e = Assert.Throws<KeyFileException>(() => RepositoryKeyFile.Load(dir["k"], passphraseFile: null));

        Assert.Equal(KeyFileProblem.PassphraseRequired, e.Problem);
        Assert.Contains(dir["k"], e.Message, StringComparison.Ordinal);
        Assert.Contains("ENGINE_PASSPHRASE_FILE", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"version\": 1, \"id\"", "not a JSON key file")]
    [InlineData("", "not a JSON key file")]
    [InlineData("null", "empty")]
    [InlineData("{\"version\": 2, \"id\": \"00000000000000000000000000000000\", \"created\": \"2026-12-06T00:00:00Z\", \"kdf\": \"none\"}", "format version 2")]
    [InlineData("{\"version\": 1, \"created\": \"2026-12-06T00:00:00Z\", \"kdf\": \"none\", \"key\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}", "no key id")]
    [InlineData("{\"version\": 1, \"id\": \"00000000000000000000000000000000\", \"created\": \"2026-12-06T00:00:00Z\", \"kdf\": \"scrypt\"}", "unknown kdf 'scrypt'")]
    [InlineData("{\"version\": 1, \"id\": \"00000000000000000000000000000000\", \"created\": \"2026-12-06T00:00:00Z\", \"kdf\": \"none\", \"key\": \"AAAA\"}", "needs 'key', 32 bytes in base64")]
    [InlineData("{\"version\": 1, \"id\": \"00000000000000000000000000000000\", \"created\": \"2026-12-06T00:00:00Z\", \"kdf\": \"pbkdf2-sha256\", \"iterations\": 1000, \"salt\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"wrappedKey\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", "iterations 1000")]
    public void A_damaged_file_is_named_with_what_is_wrong(string content, string reason)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["k"], content);

        var e = Assert.Throws<KeyFileException>(() => RepositoryKeyFile.Read(dir["k"]));

        Assert.Equal(KeyFileProblem.Damaged, e.Problem);
        Assert.StartsWith($"{dir["k"]}: damaged key file: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_raw_key_edited_in_place_no_longer_matches_its_id()
    {
        using var dir = new TempDir();
        using var key = RepositoryKey.Generate();
        RepositoryKeyFile.Create(dir["k"], key, [], Created);
        var json = JsonNode.Parse(File.ReadAllText(dir["k"]))!;
        var bytes = Convert.FromBase64String((string)json["key"]!);
        bytes[7] ^= 0x40;
        json["key"] = Convert.ToBase64String(bytes);
        File.WriteAllText(dir["k"], json.ToJsonString());

        var e = Assert.Throws<KeyFileException>(() => RepositoryKeyFile.Load(dir["k"], null));

        Assert.Equal(KeyFileProblem.Damaged, e.Problem);
        Assert.Equal($"{dir["k"]}: damaged key file: the key does not match the file's id {key.Id}", e.Message);
    }

    [Fact]
    public void A_missing_key_file_or_passphrase_file_is_named()
    {
        using var dir = new TempDir();
        using var key = CreateWrapped(dir["k"]);

        var noKey = Assert.Throws<KeyFileException>(() => RepositoryKeyFile.Read(dir["none"]));
        var noPassphrase = Assert.Throws<KeyFileException>(() => RepositoryKeyFile.Load(dir["k"], dir["nopass"]));

        Assert.Equal((KeyFileProblem.Missing, $"{dir["none"]}: no such key file"), (noKey.Problem, noKey.Message));
        Assert.Equal((KeyFileProblem.Missing, $"{dir["nopass"]}: no such passphrase file"), (noPassphrase.Problem, noPassphrase.Message));
    }

    [Fact]
    public void A_passphrase_file_loses_one_trailing_newline_only()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["p1"], "secret\n");
        File.WriteAllText(dir["p2"], "secret \r\n");
        File.WriteAllText(dir["p3"], "\n");

        Assert.Equal("secret"u8.ToArray(), Passphrase.ReadFile(dir["p1"]));
        Assert.Equal("secret "u8.ToArray(), Passphrase.ReadFile(dir["p2"]));
        Assert.Equal(KeyFileProblem.Damaged, Assert.Throws<KeyFileException>(() => Passphrase.ReadFile(dir["p3"])).Problem);
    }

    [Fact]
    public void An_existing_file_is_never_overwritten()
    {
        using var dir = new TempDir();
        using var key = RepositoryKey.Generate();
        File.WriteAllText(dir["k"], "precious");

        var e = Assert.Throws<KeyFileException>(() => RepositoryKeyFile.Create(dir["k"], key, [], Created));

        Assert.Equal(KeyFileProblem.Exists, e.Problem);
        Assert.Equal("precious", File.ReadAllText(dir["k"]));
    }

    private static RepositoryKey CreateWrapped(string path)
    {
        var key = RepositoryKey.Generate();
        RepositoryKeyFile.Create(path, key, Secret, Created, FastIterations);
        return key;
    }
}
