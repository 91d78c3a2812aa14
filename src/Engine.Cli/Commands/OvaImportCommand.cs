using System.CommandLine;
using System.Diagnostics;
using Engine.Ova;
using Engine.Ova.Import;
using Engine.Ova.Json;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine ova import FILE.ova --to DIR [--format raw|qcow2] [--disk NAME] [--extract] [--vm ID] [--progress] [--json]</c>:
/// converts the disks while the archive streams past, into sparse raw files or qcow2 images in DIR; nothing is left in
/// DIR on failure.
/// FILE may be "-" (a pipe).
/// </summary>
internal static class OvaImportCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "The .ova archive ('-' reads a pipe on stdin)." };
        var to = new Option<string>("--to", "-t") { Description = "Existing folder the disks are written to.", Required = true };
        var format = new Option<string>("--format", "-f") { Description = "Output format: raw (sparse) or qcow2 (as PVE keeps disks on file storage).", DefaultValueFactory = _ => "raw" };
        format.AcceptOnlyFromAmong(Qcow2Files.OutputFormats);
        var disk = new Option<string?>("--disk", "-d") { Description = "Import only this disk: drive key (scsi0), file name or disk id." };
        var extract = new Option<bool>("--extract") { Description = "Copy the disk files out as stored (as PVE does) instead of converting them." };
        var vm = new Option<string?>("--vm") { Description = "Virtual system of a collection (id or name; default: the first)." };
        var progress = new Option<bool>("--progress", "-p") { Description = "Show progress on stderr (default when stderr is a terminal)." };
        var json = new Option<bool>("--json") { Description = "Print the disks written as JSON." };
        var workers = new Option<int>("--workers") { Description = "Threads inflating compressed grains (default: one per core, up to 4)." };
        var command = new Command("import", "Convert an OVA's disks to sparse raw files or qcow2 images in one pass, without extracting the archive.")
        {
            file, to, format, disk, extract, vm, progress, json, workers,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(
            parse.GetValue(file)!,
            new OvaImportOptions
            {
                TargetDirectory = parse.GetValue(to)!,
                Format = parse.GetValue(format) == "qcow2" ? OvaOutputFormat.Qcow2 : OvaOutputFormat.Raw,
                CreateImage = Qcow2Files.CreateInEmpty,
                Disk = parse.GetValue(disk),
                Extract = parse.GetValue(extract),
                VirtualSystem = parse.GetValue(vm),
                Workers = parse.GetValue(workers) is > 0 and var n ? n : Math.Clamp(Environment.ProcessorCount, 1, 4),
            },
            parse.GetValue(progress) || (!Console.IsErrorRedirected && !parse.GetValue(json)),
            parse.GetValue(json),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string path, OvaImportOptions options, bool showProgress, bool json, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var termination = new TerminationSignal(TerminationSignal.UnwindGrace, cancellationToken);
        try
        {
            await using var archive = OvaCommand.OpenArchive(path);
            using var reporter = showProgress && archive.CanSeek ? new ProgressReporter(archive.Length) : null;
            var disks = await OvaImporter.ImportAsync(archive, path, options with
            {
                Progress = reporter,
                Warning = message => Console.Error.WriteLine($"engine ova import: warning: {DisplayText.Printable(message)}"),
            }, termination.Token).ConfigureAwait(false);
            reporter?.Finish();
            if (json)
            {
                var entries = new List<OvaImportedDiskJson>(disks.Count);
                foreach (var d in disks)
                {
                    entries.Add(new OvaImportedDiskJson
                    {
                        DiskAddress = d.Address,
                        Source = d.Source,
                        SourceFormat = d.SourceFormat,
                        Output = d.OutputPath,
                        Format = d.Format,
                        VirtualSize = d.VirtualSize,
                        DataBytes = d.DataBytes,
                        Manifest = d.Manifest,
                    });
                }

                OvaCommand.WriteJson(new OvaImportJson { Disks = entries }, OvaCommand.Json.OvaImportJson);
            }
            else
            {
                foreach (var d in disks)
                {
                    Console.Out.WriteLine($"{d.Address}: {d.Source ?? "(blank)"} [{d.SourceFormat}] -> {d.OutputPath} ({Sizes.Format(d.VirtualSize)}, {Sizes.Format(d.DataBytes)} of data, manifest {d.Manifest})");
                }

                if (showProgress)
                {
                    Console.Error.WriteLine($"engine ova import: done in {clock.Elapsed.TotalSeconds:0.0} s");
                }
            }

            return ExitCodes.Ok;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"engine ova import: stopped by {termination.SignalName}; partial outputs removed");
            return termination.ExitCode;
        }
        catch (Exception e) when (e is OvaFormatException or NotSupportedException or IOException or UnauthorizedAccessException or Blocks.BlockDeviceException)
        {
            return OvaCommand.Fail("import", e);
        }
    }
}
