using System.Globalization;
using Engine.Backup;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Snapshots;
using Engine.Fuzz.Support;

namespace Engine.Fuzz.Targets;

/// <summary>
/// A snapshot's <c>manifest.json</c>, read through the repository as every command reads it. A manifest the
/// repository accepts must be usable: its devices and archive are touched the way restore, verify and gc touch them.
/// </summary>
internal sealed class RepositoryManifestTarget : IFuzzTarget
{
    /// <summary>The snapshot the seeds describe; a manifest naming another one is refused, as it should be.</summary>
    public static readonly SnapshotId Snapshot = new("vm", "100", DateTimeOffset.Parse("2026-11-26T06:30:00Z", CultureInfo.InvariantCulture));

    private readonly Lazy<BackupRepository> _repository = new(() => BackupRepository.Open(Scratch.PathOf("repository")));

    public string Name => "repository-manifest";

    public string Description => "snapshot manifest.json of snapshot vm/100/2026-11-26T06:30:00Z, read through BackupRepository";

    public void Run(ReadOnlySpan<byte> input)
    {
        var repository = _repository.Value;
        var path = repository.ManifestPath(Snapshot);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using (var file = File.Create(path))
        {
            file.Write(input);
        }

        try
        {
            var manifest = repository.ReadManifest(Snapshot);
            foreach (var device in manifest.Devices)
            {
                _ = device.Name.Length + device.Index.Length + device.IndexChecksum.Length;
            }

            if (manifest.Archive is { } archive)
            {
                _ = archive.Catalog.Length + archive.CatalogChecksum.Length;
            }
        }
        catch (RepositoryCorruptException)
        {
        }
    }
}
