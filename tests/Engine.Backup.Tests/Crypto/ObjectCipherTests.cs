using System.Security.Cryptography;
using Engine.Backup.Repository.Crypto;

namespace Engine.Backup.Tests.Crypto;

/// <summary>AES-256-GCM sealing of one object: round trips, and every kind of tampering caught with the object named.</summary>
public sealed class ObjectCipherTests
{
    private const string ChunkKey = "chunks/ab/abcd0123";
    private const string Path = "mem://test/" + ChunkKey;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4 << 20)]
    public void Seal_then_open_gives_the_plaintext_back(int length)
    {
        using var key = RepositoryKey.Generate();
        using var cipher = key.CreateObjectCipher();
        var plaintext = RandomNumberGenerator.GetBytes(length);

        var sealedObject = Seal(cipher, plaintext, ChunkKey);
        var opened = new byte[length];
        cipher.Open(sealedObject, ChunkKey, opened, Path);

        Assert.Equal(length + ObjectCipher.Overhead, sealedObject.Length);
        Assert.Equal("EO\u0001\u0001"u8.ToArray(), sealedObject[..4]);
        Assert.Equal(plaintext, opened);
    }

    [Fact]
    public void Sealing_the_same_plaintext_twice_uses_a_fresh_nonce()
    {
        using var key = RepositoryKey.Generate();
        using var cipher = key.CreateObjectCipher();
        var plaintext = new byte[64];

        var first = Seal(cipher, plaintext, ChunkKey);
        var second = Seal(cipher, plaintext, ChunkKey);

        Assert.NotEqual(first[4..16], second[4..16]);
        Assert.NotEqual(first, second);
    }

    /// <summary>Header (0-3), nonce (4-15), body (16-1039) and tag (the last 16): one flipped bit anywhere is caught.</summary>
    [Theory]
    [InlineData(0, "no encryption header")]
    [InlineData(1, "no encryption header")]
    [InlineData(2, "encryption format version")]
    [InlineData(3, "encryption format version")]
    [InlineData(4, "ciphertext does not authenticate: tampered, or the wrong key")]
    [InlineData(15, "ciphertext does not authenticate: tampered, or the wrong key")]
    [InlineData(16, "ciphertext does not authenticate: tampered, or the wrong key")]
    [InlineData(600, "ciphertext does not authenticate: tampered, or the wrong key")]
    [InlineData(1040, "ciphertext does not authenticate: tampered, or the wrong key")]
    [InlineData(1055, "ciphertext does not authenticate: tampered, or the wrong key")]
    public void A_flipped_byte_anywhere_fails_naming_the_object(int position, string reason)
    {
        using var key = RepositoryKey.Generate();
        using var cipher = key.CreateObjectCipher();
        var sealedObject = Seal(cipher, RandomNumberGenerator.GetBytes(1024), ChunkKey);
        Assert.Equal(1056, sealedObject.Length);

        sealedObject[position] ^= 0x01;

        var e = Assert.Throws<ObjectAuthenticationException>(() => cipher.Open(sealedObject, ChunkKey, new byte[1024], Path));
        Assert.StartsWith(Path + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_object_opened_under_another_key_name_fails_through_the_associated_data()
    {
        using var key = RepositoryKey.Generate();
        using var cipher = key.CreateObjectCipher();
        var sealedObject = Seal(cipher, RandomNumberGenerator.GetBytes(100), ChunkKey);

        var e = Assert.Throws<ObjectAuthenticationException>(() => cipher.Open(sealedObject, "chunks/ab/abcd9999", new byte[100], "mem://test/chunks/ab/abcd9999"));

        Assert.Equal("mem://test/chunks/ab/abcd9999: ciphertext does not authenticate: tampered, or the wrong key", e.Message);
    }

    [Fact]
    public void The_wrong_key_fails_with_the_clear_error()
    {
        using var right = RepositoryKey.Generate();
        using var wrong = RepositoryKey.Generate();
        using var sealer = right.CreateObjectCipher();
        using var opener = wrong.CreateObjectCipher();
        var sealedObject = Seal(sealer, RandomNumberGenerator.GetBytes(100), ChunkKey);

        var e = Assert.Throws<ObjectAuthenticationException>(() => opener.Open(sealedObject, ChunkKey, new byte[100], Path));

        Assert.Equal(Path + ": ciphertext does not authenticate: tampered, or the wrong key", e.Message);
    }

    [Fact]
    public void A_truncated_object_fails_naming_it()
    {
        using var key = RepositoryKey.Generate();
        using var cipher = key.CreateObjectCipher();

        var e = Assert.Throws<ObjectAuthenticationException>(() => cipher.Open(new byte[31], ChunkKey, new byte[100], Path));

        Assert.Equal(Path + ": 31 bytes is too short for an encrypted object (32 bytes at least): truncated, or not encrypted", e.Message);
    }

    [Fact]
    public void Seal_and_open_allocate_nothing_once_the_thread_has_its_cipher()
    {
        using var key = RepositoryKey.Generate();
        using var cipher = key.CreateObjectCipher();
        var plaintext = RandomNumberGenerator.GetBytes(64 << 10);
        var sealedObject = new byte[ObjectCipher.SealedLength(plaintext.Length)];
        var opened = new byte[plaintext.Length];
        cipher.Seal(plaintext, ChunkKey, sealedObject);
        cipher.Open(sealedObject, ChunkKey, opened, Path);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            cipher.Seal(plaintext, ChunkKey, sealedObject);
            cipher.Open(sealedObject, ChunkKey, opened, Path);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(plaintext, opened);
    }

    [Fact]
    public async Task One_cipher_seals_and_opens_on_many_threads_at_once()
    {
        using var key = RepositoryKey.Generate();
        using var cipher = key.CreateObjectCipher();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 200; i++)
            {
                var plaintext = RandomNumberGenerator.GetBytes(1000 + i);
                var objectKey = $"chunks/ab/ab{t}x{i}";
                var opened = new byte[plaintext.Length];
                cipher.Open(Seal(cipher, plaintext, objectKey), objectKey, opened, objectKey);
                Assert.Equal(plaintext, opened);
            }
        })));
    }

    internal static byte[] Seal(ObjectCipher cipher, byte[] plaintext, string objectKey)
    {
        var sealedObject = new byte[ObjectCipher.SealedLength(plaintext.Length)];
        cipher.Seal(plaintext, objectKey, sealedObject);
        return sealedObject;
    }
}
