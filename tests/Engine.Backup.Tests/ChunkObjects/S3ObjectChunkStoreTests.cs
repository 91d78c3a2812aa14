using System.Security.Cryptography;
using Engine.Backup.Repository.ChunkObjects;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Crypto;
using Engine.Backup.Repository.Storage;
using Engine.Backup.Repository.Storage.Stack;
using Engine.Backup.Tests.Storage.S3;

namespace Engine.Backup.Tests.ChunkObjects;

/// <summary><see cref="ObjectChunkStore"/> over S3 on Ceph radosgw, and through the whole store stack with encryption.</summary>
[Collection(CephGateway.Collection)]
public sealed class S3ObjectChunkStoreTests(CephGateway gateway) : ObjectChunkStoreContract
{
    protected override async Task<IObjectStore> CreateBackendAsync() => await S3Stores.CreateAsync(gateway, purpose: "chunks");

    [Fact]
    public async Task Through_the_encrypted_stack_the_bucket_holds_neither_the_data_nor_its_sha256_name()
    {
        await using var backend = await S3Stores.CreateAsync(gateway, purpose: "sealed");
        using var key = RepositoryKey.Generate();
        using var cipher = key.CreateObjectCipher();
        var naming = key.CreateChunkNaming();
        var location = backend.Location;
        var plainView = await S3Stores.OpenAsync(gateway, backend.Repository);
        await using (var stack = await ObjectStoreStack.BuildAsync(plainView, new ObjectStoreStackOptions(Cipher: cipher), CancellationToken.None))
        {
            var chunks = new ObjectChunkStore(stack, 3, naming);
            var data = RandomBytes(300_000, 30);
            "ENGINE-PLAINTEXT-MARKER"u8.CopyTo(data.AsSpan(1000));
            var digest = naming.Name(data);

            Assert.True((await chunks.PutAsync(digest, data, CancellationToken.None)).Stored);
            Assert.False((await chunks.PutAsync(digest, data, CancellationToken.None)).Stored);
            var back = new byte[data.Length];
            Assert.Equal(data.Length, await chunks.ReadAsync(digest, ChunkStore.UnknownPayloadChecksum, back, CancellationToken.None));
            Assert.Equal(data, back);

            var sha256 = Convert.ToHexStringLower(SHA256.HashData(data));
            var objects = new List<ObjectInfo>();
            await foreach (var info in backend.ListAsync(ObjectKind.Chunk, CancellationToken.None))
            {
                objects.Add(info);
            }

            var stored = Assert.Single(objects);
            Assert.Equal(digest.ToString(), stored.Name.Name);
            Assert.NotEqual(sha256, stored.Name.Name);
            var raw = new byte[stored.Length];
            await backend.LoadAsync(stored.Name, 0, raw, CancellationToken.None);
            Assert.Equal(-1, raw.AsSpan().IndexOf("ENGINE-PLAINTEXT-MARKER"u8));
            Assert.Equal(-1, raw.AsSpan().IndexOf(data.AsSpan(0, 64)));
            Assert.Equal(-1, raw.AsSpan().IndexOf("ENGCHUNK"u8));
            Assert.Equal(-1, raw.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(sha256)));
        }

        Assert.Equal(location, backend.Location);
    }
}
