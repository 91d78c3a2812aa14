using System.Security.Cryptography;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Crypto;

namespace Engine.Backup.Tests.Crypto;

/// <summary>
/// The subkeys and chunk names are what docs/repository-format.md says they are: checked against openssl's own HKDF
/// and HMAC, so another implementation can read a repository from the documentation alone.
/// </summary>
public sealed class KeyDerivationTests
{
    private static readonly byte[] Master = Convert.FromHexString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");

    [Theory]
    [InlineData(KeyPurpose.Content, "engine/repository/v1/content")]
    [InlineData(KeyPurpose.ChunkNaming, "engine/repository/v1/chunk-naming")]
    [InlineData(KeyPurpose.ObjectNames, "engine/repository/v1/object-names")]
    public async Task Each_subkey_is_HKDF_SHA256_of_the_master_key_under_its_label_as_openssl_computes_it(KeyPurpose purpose, string label)
    {
        using var key = RepositoryKey.FromBytes(Master);
        var subkey = new byte[32];
        key.Derive(purpose, subkey);

        var expected = await OpensslHkdfAsync(label);

        Assert.Equal(label, KeyDerivation.LabelOf(purpose));
        Assert.Equal(expected, Convert.ToHexStringLower(subkey));
    }

    [Fact]
    public async Task The_key_id_is_the_first_16_bytes_of_the_key_id_label()
    {
        using var key = RepositoryKey.FromBytes(Master);

        var expected = await OpensslHkdfAsync("engine/repository/v1/key-id");

        Assert.Equal(expected[..32], key.Id);
    }

    [Fact]
    public void Subkeys_differ_from_each_other_and_from_another_master_key()
    {
        using var key = RepositoryKey.FromBytes(Master);
        using var other = RepositoryKey.Generate();
        var all = new List<string>();
        foreach (var k in new[] { key, other })
        {
            foreach (var purpose in Enum.GetValues<KeyPurpose>())
            {
                var subkey = new byte[32];
                k.Derive(purpose, subkey);
                all.Add(Convert.ToHexString(subkey));
            }
        }

        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.DoesNotContain(Convert.ToHexString(Master), all);
    }

    [Fact]
    public async Task A_keyed_chunk_name_is_HMAC_SHA256_under_the_naming_subkey_as_openssl_computes_it()
    {
        using var key = RepositoryKey.FromBytes(Master);
        var naming = key.CreateChunkNaming();
        using var dir = new TempDir();
        var content = RandomNumberGenerator.GetBytes(100_000);
        await File.WriteAllBytesAsync(dir["chunk"], content);
        var namingKey = await OpensslHkdfAsync("engine/repository/v1/chunk-naming");

        var hmac = await Tool.RunAsync("openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + namingKey, "-r", dir["chunk"]);

        hmac.AssertSuccess();
        Assert.Equal(hmac.Stdout.Split(' ')[0], naming.Name(content).ToString());
    }

    [Fact]
    public void Keyed_names_hide_the_content_hash_and_deduplicate_only_within_one_key()
    {
        using var key = RepositoryKey.Generate();
        using var other = RepositoryKey.Generate();
        var content = RandomNumberGenerator.GetBytes(4096);
        IChunkNaming keyed = key.CreateChunkNaming();
        var sameKeyAgain = RepositoryKey.FromBytes(key.Material).CreateChunkNaming();
        var otherKey = other.CreateChunkNaming();
        var plain = Sha256ChunkNaming.Instance;

        Assert.Equal(ChunkDigest.Compute(content), plain.Name(content));
        Assert.NotEqual(plain.Name(content), keyed.Name(content));
        Assert.Equal(keyed.Name(content), sameKeyAgain.Name(content));
        Assert.NotEqual(keyed.Name(content), otherKey.Name(content));
        Assert.Equal(ChunkDigest.Zero, keyed.NameOrZero(new byte[4096]));
        Assert.Equal(keyed.Name(content), keyed.NameOrZero(content));
    }

    private static async Task<string> OpensslHkdfAsync(string info)
    {
        var result = await Tool.RunAsync("openssl", "kdf", "-keylen", "32", "-kdfopt", "digest:SHA256",
            "-kdfopt", "hexkey:" + Convert.ToHexStringLower(Master), "-kdfopt", "salt:", "-kdfopt", "info:" + info, "HKDF");
        result.AssertSuccess();
        return result.Stdout.Trim().Replace(":", "", StringComparison.Ordinal).ToLowerInvariant();
    }
}
