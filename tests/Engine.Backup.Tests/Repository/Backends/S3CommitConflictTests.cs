using Engine.Backup.Repository;
using Engine.Backup.Repository.Backends;
using Engine.Backup.S3;
using Engine.Backup.Tests.Storage.S3;

namespace Engine.Backup.Tests.Repository.Backends;

/// <summary>Two hosts committing the same snapshot id of one guest on S3: neither overwrites the other's snapshot.</summary>
[Collection(CephGateway.Collection)]
public sealed class S3CommitConflictTests(CephGateway gateway)
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Two_writers_that_reserved_the_same_second_commit_two_snapshots()
    {
        var settings = new ObjectRepositorySettings { ChunkSize = 64 << 10, CompressionLevel = 3, GcGrace = TimeSpan.Zero };
        using var hostA = await BackupRepository.OpenAsync(await S3Stores.CreateAsync(gateway, purpose: "conflict"), settings, None);
        using var hostB = await BackupRepository.OpenAsync(await S3Stores.OpenAsync(gateway, S3RepositoryLocation.Parse(hostA.Directory)), settings, None);
        var time = DateTimeOffset.UtcNow;

        // Both reserve before either commits: each listing finds the second free.
        await using var a = hostA.BeginSnapshot("vm", "305", time);
        await using var b = hostB.BeginSnapshot("vm", "305", time);
        Assert.Equal(a.Id, b.Id);
        a.Manifest.Extra = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["host"] = "a" };
        b.Manifest.Extra = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["host"] = "b" };

        var first = await a.CommitAsync(None);
        var second = await b.CommitAsync(None);

        Assert.Equal(first.Id.Time.AddSeconds(1), second.Id.Time);
        var listed = hostA.ListSnapshots("vm", "305");
        Assert.Equal(2, listed.Count);
        Assert.Equal("a", Assert.Single(listed, m => m.Id == first.Id).Extra!["host"]);
        Assert.Equal("b", Assert.Single(listed, m => m.Id == second.Id).Extra!["host"]);
    }
}
