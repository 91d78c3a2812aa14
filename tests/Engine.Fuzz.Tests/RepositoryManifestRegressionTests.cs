using System.Globalization;
using Engine.Backup;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Fuzz.Tests;

/// <summary>Manifests the repository once accepted and then failed on with a raw .NET exception.</summary>
public sealed class RepositoryManifestRegressionTests : IDisposable
{
    private static readonly SnapshotId Snapshot = new("vm", "100", DateTimeOffset.Parse("2026-11-26T06:30:00Z", CultureInfo.InvariantCulture));

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "engine-fuzz-test-" + Guid.NewGuid().ToString("N")[..10]);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("Regressions/repository-manifest/null-device.bin")]
    public void Manifest_with_an_incomplete_entry_is_corrupt(string file)
    {
        var repository = BackupRepository.Open(_directory);
        var path = Path.Combine(_directory, "snapshots", "vm", "100", "2026-11-26T06:30:00Z", BackupRepository.ManifestFileName);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, FuzzInputs.Read(file));

        var error = Assert.Throws<RepositoryCorruptException>(() => repository.ReadManifest(Snapshot));
        Assert.Equal($"manifest {path} has a device or archive entry without its name, file or checksum", error.Message);
        Assert.Equal(path, error.Path);
    }
}
