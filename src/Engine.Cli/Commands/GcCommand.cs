using System.CommandLine;
using System.Globalization;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine gc --repo DIR [--json]</c>: mark and sweep garbage collection, safe while backups run. Reports the chunks
/// removed and the bytes freed.
/// </summary>
internal static class GcCommand
{
    public static Command Create()
    {
        var repo = RepositoryCommandSupport.RepoOption();
        var json = RepositoryCommandSupport.JsonOption();
        var command = new Command("gc", "Delete chunks no snapshot uses (safe while backups run).") { repo, json };
        command.SetAction((parse, cancellationToken) => RepositoryCommandSupport.WithRepositoryAsync("gc", parse.GetValue(repo)!, async repository =>
        {
            var report = await repository.CollectGarbageAsync(cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                RepositoryCommandSupport.WriteJson(report);
            }
            else
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"gc: {report.ChunksRemoved} chunk(s) removed, {Sizes.Format(report.BytesFreed)} freed; {report.ChunksReferenced} referenced by {report.Snapshots} snapshot(s); {report.ChunksKeptRecent} recent kept; {report.IncompleteSnapshotsRemoved} abandoned snapshot(s), {report.TemporaryFilesRemoved} temporary file(s) removed ({report.DurationSeconds:0.0} s)"));
                if (report.ChunksLocked > 0)
                {
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"gc: {report.ChunksLocked} unreferenced chunk(s) kept: Object Lock retains them until their snapshots' dates"));
                }
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }
}
