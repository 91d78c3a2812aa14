using System.CommandLine;
using Engine.Backup.Repository;
using Engine.Backup.Repository.Chunks;
using Engine.Backup.Repository.Snapshots;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine verify --repo DIR [--snapshot ID] [--quick] [--progress] [--json]</c>: checks every chunk of one snapshot
/// or of the whole repository (header, checksum and, unless <c>--quick</c>, SHA-256). Exit 0 when clean, 1 when
/// anything is corrupt or missing (each bad chunk printed with its file, digest and the snapshots that use it), 66
/// when the repository or snapshot does not exist.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var repo = RepositoryCommandSupport.RepoOption();
        var snapshot = new Option<string?>("--snapshot") { Description = "Only this snapshot (TYPE/VMID/TIME)." };
        var quick = new Option<bool>("--quick") { Description = "Check headers and checksums only; skip the SHA-256 rehash." };
        var progress = new Option<bool>("--progress", "-p") { Description = "Show progress on stderr (default when stderr is a terminal)." };
        var json = RepositoryCommandSupport.JsonOption();
        var command = new Command("verify", "Check the chunks of a snapshot or of the whole repository.") { repo, snapshot, quick, progress, json };
        command.SetAction((parse, cancellationToken) =>
        {
            SnapshotId? id = null;
            if (parse.GetValue(snapshot) is { } text)
            {
                if (!SnapshotId.TryParse(text, out var parsed))
                {
                    Console.Error.WriteLine($"engine verify: --snapshot '{text}' is not a snapshot id (TYPE/VMID/yyyy-MM-ddTHH:mm:ssZ)");
                    return Task.FromResult(ExitCodes.Usage);
                }

                id = parsed;
            }

            var showProgress = parse.GetValue(progress) || !Console.IsErrorRedirected;
            return RepositoryCommandSupport.WithRepositoryAsync("verify", parse.GetValue(repo)!, repository =>
                RunAsync(repository, id, !parse.GetValue(quick), showProgress, parse.GetValue(json), cancellationToken), cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(BackupRepository repository, SnapshotId? id, bool rehash, bool showProgress, bool json, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var progress = showProgress ? new ChunkProgress() : null;
        VerifyReport report;
        try
        {
            report = await repository.VerifyAsync(id, progress, cancellationToken, rehash).ConfigureAwait(false);
        }
        finally
        {
            progress?.Finish();
        }

        if (json)
        {
            RepositoryCommandSupport.WriteJson(report);
        }
        else
        {
            foreach (var bad in report.BadSnapshots)
            {
                Console.Out.WriteLine($"BAD SNAPSHOT {bad.Snapshot}: {bad.Reason}");
            }

            foreach (var bad in report.BadChunks)
            {
                Console.Out.WriteLine($"BAD CHUNK {bad.Digest} ({ChunkCorruptException.Describe(bad.Check)}): {bad.Path}");
                Console.Out.WriteLine($"  used by: {string.Join(", ", bad.Snapshots)}");
            }

            var verdict = report.IsClean ? "ok" : $"{report.BadChunks.Count} bad chunk(s), {report.BadSnapshots.Count} bad snapshot(s)";
            Console.Out.WriteLine($"verified {report.Snapshots.Count} snapshot(s), {report.ChunksChecked} chunk(s), {Sizes.Format(report.BytesChecked)} in {started.Elapsed.TotalSeconds:0.0} s{(rehash ? "" : " (quick)")}: {verdict}");
        }

        return report.IsClean ? ExitCodes.Ok : ExitCodes.Failure;
    }

    /// <summary>A one-line chunk counter on stderr, redrawn at most ten times a second.</summary>
    private sealed class ChunkProgress : IProgress<VerifyProgress>
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private readonly Lock _lock = new();
        private long _lastDraw = -1000;
        private bool _drawn;

        public void Report(VerifyProgress value)
        {
            lock (_lock)
            {
                var now = _clock.ElapsedMilliseconds;
                if (now - _lastDraw < 100 && value.ChunksChecked != value.ChunksTotal)
                {
                    return;
                }

                _lastDraw = now;
                _drawn = true;
                var rate = value.BytesChecked / Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
                Console.Error.Write($"\rverify: {value.ChunksChecked}/{value.ChunksTotal} chunks  {Sizes.Format(value.BytesChecked)}  {Sizes.Format((long)rate)}/s ");
            }
        }

        public void Finish()
        {
            lock (_lock)
            {
                if (_drawn)
                {
                    Console.Error.WriteLine();
                    _drawn = false;
                }
            }
        }
    }
}
