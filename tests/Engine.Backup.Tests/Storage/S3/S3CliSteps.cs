using System.Text.Json;
using Amazon.S3.Model;
using Engine.Backup.S3;

namespace Engine.Backup.Tests.Storage.S3;

/// <summary>
/// The steps the gateway robustness tests repeat with <c>engine</c> processes: write a disk, back it up, restore it
/// byte-exact, and count what a repository holds in its bucket.
/// </summary>
internal static class S3CliSteps
{
    /// <summary>A fresh repository URL in a bucket of its own, initialised with <c>engine init</c>.</summary>
    public static async Task<string> InitAsync(string purpose)
    {
        var repo = $"s3://{CephGateway.NewBucketName(purpose)}/pve";
        (await EngineCli.RunAsync("init", "--repo", repo)).AssertSuccess();
        return repo;
    }

    /// <summary>The arguments of <c>engine backup</c> of one disk as drive-scsi0 of VM <paramref name="vmid"/>.</summary>
    public static string[] BackupArgs(string repo, int vmid, string disk) =>
        ["backup", "--repo", repo, "--vmid", vmid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--disk", $"drive-scsi0={disk}", "--json"];

    /// <summary>Backs the disk up and returns the snapshot id from <c>--json</c>.</summary>
    public static async Task<string> BackupAsync(string repo, int vmid, string disk) =>
        SnapshotOf((await EngineCli.RunAsync(BackupArgs(repo, vmid, disk))).AssertSuccess().Stdout);

    /// <summary>The <c>snapshot</c> of a backup's JSON report.</summary>
    public static string SnapshotOf(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("snapshot").GetString()!;
    }

    /// <summary>Restores drive-scsi0 of <paramref name="snapshot"/> to <paramref name="target"/> and compares it with <paramref name="expected"/> by qemu-img.</summary>
    public static async Task AssertRestoresAsync(string repo, string snapshot, string expected, string target)
    {
        (await EngineCli.RunAsync("restore", "--repo", repo, "--snapshot", snapshot, "--disk", "drive-scsi0", "--to", target)).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", expected, target)).AssertSuccess();
        File.Delete(target);
    }

    /// <summary>The snapshot ids <c>engine snapshots --json</c> lists.</summary>
    public static async Task<IReadOnlyList<string>> SnapshotsAsync(string repo)
    {
        using var document = JsonDocument.Parse((await EngineCli.RunAsync("snapshots", "--repo", repo, "--json")).AssertSuccess().Stdout);
        return [.. document.RootElement.EnumerateArray().Select(snapshot => snapshot.GetProperty("id").GetString()!)];
    }

    /// <summary>The bytes and count of the repository's objects whose keys start with <paramref name="keyPrefix"/> (<c>chunks/</c>), as the gateway lists them.</summary>
    public static async Task<(long Bytes, int Objects)> StoredAsync(CephGateway gateway, string repo, string keyPrefix)
    {
        var objects = await ObjectsAsync(gateway, repo, keyPrefix);
        return (objects.Sum(entry => entry.Size), objects.Count);
    }

    /// <summary>The keys (below the repository's prefix) and sizes of its objects whose keys start with <paramref name="keyPrefix"/>.</summary>
    public static async Task<IReadOnlyList<(string Key, long Size)>> ObjectsAsync(CephGateway gateway, string repo, string keyPrefix)
    {
        var location = S3RepositoryLocation.Parse(repo);
        using var client = S3ClientFactory.Create(S3Stores.Options(gateway));
        var request = new ListObjectsV2Request { BucketName = location.Bucket, Prefix = location.KeyOf(keyPrefix) };
        var objects = new List<(string, long)>();
        var strip = location.KeyOf("").Length;
        ListObjectsV2Response response;
        do
        {
            response = await client.ListObjectsV2Async(request);
            objects.AddRange((response.S3Objects ?? []).Select(entry => (entry.Key[strip..], entry.Size ?? 0)));
            request.ContinuationToken = response.NextContinuationToken;
        }
        while (response.IsTruncated == true);

        return objects;
    }
}
