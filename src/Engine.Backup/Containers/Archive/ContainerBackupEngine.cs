using System.Diagnostics;
using Engine.Backup.Containers.Chunking;
using Engine.Backup.Containers.Walking;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Formats;
using Engine.Backup.Repository.Snapshots;
using Engine.Backup.Transfer;
using Engine.Blocks.Work;

namespace Engine.Backup.Containers.Archive;

/// <summary>
/// Backs up a container's directory tree into one repository snapshot <c>ct/&lt;vmid&gt;/&lt;time&gt;</c>: file data
/// laid out as one stream cut with FastCDC into the shared chunk store (so unchanged files, and equal files of other containers, are stored
/// once), and a catalog of every entry beside the manifest. Returns only once the snapshot is durable; on any failure
/// nothing becomes visible.
/// <para>
/// Like PBS's metadata mode, the previous snapshot of the guest is the reference: a file whose <c>statx</c> matches
/// its catalog entry is not opened, and its chunks are taken over (see <see cref="ReferenceReuse"/>). A reference that
/// cannot be read, or whose catalog predates identities (version 1), means every file is read; so does
/// <see cref="ContainerBackupRequest.FullRead"/>. Manifest extra <c>ct.reference</c> says which it was.
/// </para>
/// </summary>
public static class ContainerBackupEngine
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Runs the backup.</summary>
    /// <exception cref="ArgumentException">Bad vmid, source or exclude pattern.</exception>
    /// <exception cref="DirectoryNotFoundException">The directory or a source is not a directory.</exception>
    /// <exception cref="IOException">A file cannot be read (the message names it).</exception>
    public static Task<SnapshotManifest> BackupAsync(BackupRepository repository, ContainerBackupRequest request,
        IProgress<ContainerBackupProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(request);
        if (!SnapshotId.IsValidVmid(request.Vmid))
        {
            throw new ArgumentException($"vmid '{request.Vmid}' is not a number", nameof(request));
        }

        var excludes = new ExcludeFilter(request.ExcludePatterns);
        // The walk is synchronous file system work: keep it off the caller's thread.
        return Task.Run(() =>
        {
            var reference = ReferenceCatalog.Load(repository, request);
            var walker = new ContainerTreeWalker(request.Directory, request.Sources, excludes,
                reference.Catalog is { } catalog ? new ReferenceCursor(catalog) : null);
            return RunAsync(repository, request, walker, reference, progress, cancellationToken);
        }, cancellationToken);
    }

    private static async Task<SnapshotManifest> RunAsync(BackupRepository repository, ContainerBackupRequest request,
        ContainerTreeWalker walker, ReferenceCatalog reference, IProgress<ContainerBackupProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var counters = new BackupCounters();
        var limiter = new BandwidthLimiter(request.BandwidthLimit);
        var chunking = FastCdc.Default;
        // Storing a chunk is mostly small-file I/O (create, write, rename) that blocks: more workers than cores keep the
        // disk busy while others compress.
        var workers = request.Parallelism > 0 ? request.Parallelism : Environment.ProcessorCount * 4;

        await using var writer = repository.BeginSnapshot("ct", request.Vmid, request.Time, cancellationToken);
        using var catalog = new CatalogWriter(Path.Combine(writer.Directory, CatalogFormat.FileName));
        long shrunk;
        string checksum;
        ReferenceReuse? reuse;
        await using (var uploader = new ChunkUploader(repository.Chunks, counters, workers, cancellationToken))
        {
            using var chunker = new DataStreamChunker(chunking, uploader, counters, limiter);
            reuse = reference.Catalog is { } previous ? new ReferenceReuse(previous, chunker, catalog, repository.Chunks) : null;
            var lastReport = TimeSpan.Zero;
            foreach (var walked in walker.Walk(cancellationToken))
            {
                var entry = walked.Entry;
                if (walked.ReferenceIndex >= 0)
                {
                    await reuse!.AddAsync(walked, cancellationToken).ConfigureAwait(false);
                }
                else if (reuse is { IsOpen: true } && entry.DataLength == 0)
                {
                    reuse.Queue(walked);
                }
                else
                {
                    if (reuse is not null)
                    {
                        await reuse.FlushAsync(cancellationToken).ConfigureAwait(false);
                    }

                    var dataStart = entry.Kind == ContainerEntryKind.RegularFile
                        ? await chunker.AppendAsync(walked.HostPath, entry, cancellationToken).ConfigureAwait(false)
                        : 0;
                    catalog.Write(entry, dataStart);
                }

                if (progress is not null && clock.Elapsed - lastReport >= ProgressInterval)
                {
                    lastReport = clock.Elapsed;
                    progress.Report(new ContainerBackupProgress(entry.Path, catalog.Entries, counters.BytesRead, counters.BytesReused, counters.BytesStored, clock.Elapsed));
                }
            }

            if (reuse is not null)
            {
                await reuse.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            await chunker.CompleteAsync().ConfigureAwait(false);
            await uploader.CompleteAsync().ConfigureAwait(false);
            shrunk = chunker.Shrunk;
            checksum = catalog.Complete(chunker.Chunks);
        }

        writer.SetArchive(new ArchiveEntry(CatalogFormat.FileName, checksum, catalog.Entries, catalog.Files, catalog.Bytes,
            $"fastcdc {chunking.MinSize}/{chunking.AverageSize}/{chunking.MaxSize}"));

        var manifest = writer.Manifest;
        manifest.GuestConfig = request.GuestConfig;
        manifest.FirewallConfig = request.FirewallConfig;
        manifest.Extra["ct.sources"] = string.Join(' ', Describe(walker.Sources));
        if (request.ExcludePatterns.Count > 0)
        {
            manifest.Extra["ct.exclude"] = string.Join('\n', request.ExcludePatterns);
        }

        if (walker.UndecodableNames.Count > 0)
        {
            manifest.Extra["ct.skipped-names"] = $"{walker.UndecodableNames.Count} names not valid UTF-8 left out: " +
                string.Join(", ", walker.UndecodableNames.Take(20));
        }

        manifest.Extra["ct.reference"] = reference.Describe(reuse);
        if (walker.Vanished > 0 || shrunk > 0)
        {
            manifest.Extra["ct.changed-while-read"] = $"{walker.Vanished} vanished, {shrunk} shrunk";
        }

        manifest.Stats = counters.ToStats(clock.Elapsed);
        var committed = await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
        committed.Stats.DurationSeconds = clock.Elapsed.TotalSeconds;
        progress?.Report(new ContainerBackupProgress("", catalog.Entries, counters.BytesRead, counters.BytesReused, counters.BytesStored, clock.Elapsed));
        return committed;
    }

    private static IEnumerable<string> Describe(IReadOnlyList<string> sources)
    {
        foreach (var source in sources)
        {
            yield return source.Length == 0 ? "." : "./" + source;
        }
    }
}
