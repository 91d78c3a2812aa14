using Engine.Backup.Repository.Crypto;
using Engine.Backup.Repository.Storage;

namespace Engine.Backup.Tests.Crypto;

/// <summary>Keyed snapshot names: stable under one key, different under another, and free of VM ids, times and disk names.</summary>
public sealed class KeyedSnapshotNamesTests
{
    private const string Snapshot = "vm/100/2026-12-06T10:00:00Z";

    [Fact]
    public void Names_show_no_vm_id_time_or_disk_and_are_stable_under_one_key_only()
    {
        // A fixed key: a random one would put "100" somewhere in 32 hex digits once in about 140 runs.
        using var key = RepositoryKey.FromBytes(Enumerable.Range(0, 32).Select(i => (byte)(i * 11)).ToArray());
        using var other = RepositoryKey.Generate();
        var names = key.CreateSnapshotNames();

        var manifest = new ObjectName(ObjectKind.Snapshot, names.NameOf(Snapshot, "manifest.json"));
        var index = new ObjectName(ObjectKind.Snapshot, names.NameOf(Snapshot, "drive-scsi0.img.fidx"));

        Assert.Equal(ObjectKind.Snapshot, index.Kind);
        Assert.Matches("^snapshots/[0-9a-f]{32}/manifest.json$", manifest.Key);
        Assert.Matches("^snapshots/[0-9a-f]{32}/[0-9a-f]{32}$", index.Key);
        Assert.Equal(manifest.Key.Split('/')[1], index.Key.Split('/')[1]);
        foreach (var leak in new[] { "100", "2026", "scsi0", "vm/" })
        {
            Assert.DoesNotContain(leak, index.Name, StringComparison.Ordinal);
        }

        Assert.Equal(index.Name, key.CreateSnapshotNames().NameOf(Snapshot, "drive-scsi0.img.fidx"));
        Assert.NotEqual(index.Name, names.NameOf(Snapshot, "drive-scsi1.img.fidx"));
        Assert.NotEqual(index.Name, names.NameOf("vm/101/2026-12-06T10:00:00Z", "drive-scsi0.img.fidx"));
        Assert.NotEqual(index.Name, other.CreateSnapshotNames().NameOf(Snapshot, "drive-scsi0.img.fidx"));
    }
}
