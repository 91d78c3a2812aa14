using System.CommandLine;
using System.Globalization;
using Engine.Blocks;
using Engine.Cli.Json;
using Engine.Nbd.Client;
using Engine.Nbd.Protocol;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine info URI [--list] [--map[=CONTEXT]] [--json] [--connect-timeout SECONDS]</c>: an export's size, flags, block sizes and meta contexts,
/// or its extents in the text layout of <c>nbdinfo --map</c> (offset, length, type, description).
/// </summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var uri = new Argument<string>("URI") { Description = "nbd://host[:port]/export or nbd+unix:///export?socket=PATH" };
        var list = new Option<bool>("--list", "-L") { Description = "List the server's exports." };
        var map = new Option<string?>("--map") { Description = "Print extents of CONTEXT (default base:allocation) like 'nbdinfo --map'.", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var connectTimeout = Endpoints.ConnectTimeoutOption();
        var command = new Command("info", "Show an NBD export's details, its exports or its extents.") { uri, list, map, json, connectTimeout };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var mapResult = parse.GetResult(map);
            var mapContext = mapResult is null ? null : parse.GetValue(map) ?? NbdWire.BaseAllocation;
            return await RunAsync(parse.GetValue(uri)!, parse.GetValue(list), mapContext, parse.GetValue(json), parse.GetValue(connectTimeout), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(string text, bool list, string? mapContext, bool json, double connectSeconds, CancellationToken cancellationToken)
    {
        NbdUri uri;
        TimeSpan connectTimeout;
        try
        {
            uri = NbdUri.Parse(text);
            connectTimeout = Endpoints.ConnectTimeout(connectSeconds);
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"engine info: {ErrorText.Full(ex)}");
            return ExitCodes.Usage;
        }

        try
        {
            if (list)
            {
                await ListAsync(uri, json, new NbdClientOptions { ConnectTimeout = connectTimeout }, cancellationToken).ConfigureAwait(false);
            }
            else if (mapContext is not null)
            {
                await MapAsync(uri, mapContext, json, new NbdClientOptions { Connections = 1, MetaContexts = [mapContext], ConnectTimeout = connectTimeout }, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                // One connection for everything: servers such as a non-persistent qemu-nbd accept only one client.
                await DescribeAsync(uri, json, new NbdClientOptions { Connections = 1, ListMetaContexts = true, ConnectTimeout = connectTimeout }, cancellationToken).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }
        catch (NbdConnectException ex)
        {
            Console.Error.WriteLine($"engine info: {ErrorText.Full(ex)}");
            return ExitCodes.Unavailable;
        }
        catch (Exception ex) when (ex is NbdException or ArgumentException or IOException)
        {
            Console.Error.WriteLine($"engine info: {ErrorText.Describe(ex)}");
            return ExitCodes.Failure;
        }
    }

    private static async Task ListAsync(NbdUri uri, bool json, NbdClientOptions options, CancellationToken cancellationToken)
    {
        var exports = await Endpoints.NoticeWaitAsync("info", uri, options, NbdClient.ListExportsAsync(uri, options, cancellationToken)).ConfigureAwait(false);
        if (json)
        {
            var entries = new ExportListReport.Entry[exports.Count];
            for (var i = 0; i < entries.Length; i++)
            {
                entries[i] = new ExportListReport.Entry(exports[i].Name, exports[i].Description);
            }

            JsonOutput.Write(new ExportListReport(entries), CliJsonContext.Default.ExportListReport);
            return;
        }

        foreach (var export in exports)
        {
            Console.Out.WriteLine(export.Description is null ? $"export=\"{export.Name}\"" : $"export=\"{export.Name}\"\tdescription: {export.Description}");
        }
    }

    private static async Task DescribeAsync(NbdUri uri, bool json, NbdClientOptions options, CancellationToken cancellationToken)
    {
        await using var client = await Endpoints.ConnectAsync("info", uri, options, cancellationToken).ConfigureAwait(false);
        var export = client.Export;
        var contexts = export.AvailableMetaContexts;
        var flags = export.Flags;
        var can = new SortedDictionary<string, bool>(StringComparer.Ordinal)
        {
            ["cache"] = flags.HasFlag(TransmissionFlags.SendCache),
            ["df"] = flags.HasFlag(TransmissionFlags.SendDf),
            ["fast_zero"] = flags.HasFlag(TransmissionFlags.SendFastZero),
            ["flush"] = flags.HasFlag(TransmissionFlags.SendFlush),
            ["fua"] = flags.HasFlag(TransmissionFlags.SendFua),
            ["multi_conn"] = flags.HasFlag(TransmissionFlags.CanMultiConn),
            ["trim"] = flags.HasFlag(TransmissionFlags.SendTrim),
            ["zero"] = flags.HasFlag(TransmissionFlags.SendWriteZeroes),
        };
        var protocol = export.ExtendedHeaders ? "extended headers" : export.StructuredReplies ? "structured replies" : "simple replies";
        if (json)
        {
            JsonOutput.Write(
                new ExportReport(
                    uri.Text,
                    export.Name,
                    export.Description,
                    export.Size,
                    export.IsReadOnly,
                    flags.HasFlag(TransmissionFlags.Rotational),
                    can,
                    export.MinimumBlockSize,
                    export.PreferredBlockSize,
                    export.MaximumPayload,
                    protocol,
                    contexts,
                    export.Tls is not null,
                    export.Tls?.Authentication,
                    export.Tls?.Protocol),
                CliJsonContext.Default.ExportReport);
            return;
        }

        var output = Console.Out;
        output.WriteLine($"export=\"{export.Name}\":");
        if (export.Description is not null)
        {
            output.WriteLine($"\tdescription: {export.Description}");
        }

        output.WriteLine($"\texport-size: {export.Size} ({Sizes.Format(export.Size)})");
        // nbdinfo's wording ("newstyle-fixed with TLS"), then how: x509 or psk, and the TLS version.
        output.WriteLine(export.Tls is { } tls
            ? $"\tprotocol: newstyle-fixed with TLS ({tls.Authentication}, {tls.Protocol}), {protocol}"
            : $"\tprotocol: newstyle-fixed without TLS, {protocol}");
        output.WriteLine($"\turi: {uri.Text}");
        output.WriteLine("\tcontexts:");
        foreach (var context in contexts)
        {
            output.WriteLine($"\t\t{context}");
        }

        output.WriteLine($"\tis_read_only: {Bool(export.IsReadOnly)}");
        output.WriteLine($"\tis_rotational: {Bool(flags.HasFlag(TransmissionFlags.Rotational))}");
        foreach (var (name, value) in can)
        {
            output.WriteLine($"\tcan_{name}: {Bool(value)}");
        }

        output.WriteLine($"\tblock_size_minimum: {export.MinimumBlockSize}");
        output.WriteLine($"\tblock_size_preferred: {export.PreferredBlockSize}");
        output.WriteLine($"\tblock_size_maximum: {export.MaximumPayload}");
    }

    private static async Task MapAsync(NbdUri uri, string context, bool json, NbdClientOptions options, CancellationToken cancellationToken)
    {
        await using var client = await Endpoints.ConnectAsync("info", uri, options, cancellationToken).ConfigureAwait(false);
        if (!client.Export.MetaContexts.ContainsKey(context))
        {
            throw new NbdException($"{uri}: the server does not offer meta context '{context}'");
        }

        var output = Console.Out;
        var entries = new List<MapEntry>();
        Extent? pending = null;
        await foreach (var extent in client.EnumerateExtentsAsync(context, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            // Neighbours of one type are one line, however the server happened to split its replies.
            if (pending is { } previous && previous.Flags == extent.Flags && previous.End == extent.Offset)
            {
                pending = previous with { Length = previous.Length + extent.Length };
                continue;
            }

            if (pending is { } done)
            {
                Emit(done);
            }

            pending = extent;
        }

        if (pending is { } last)
        {
            Emit(last);
        }

        if (json)
        {
            JsonOutput.Write(entries, CliJsonContext.Default.ListMapEntry);
        }

        void Emit(Extent extent)
        {
            var type = (uint)extent.Flags;
            var description = Describe(context, type);
            if (json)
            {
                entries.Add(new MapEntry(extent.Offset, extent.Length, type, description));
                return;
            }

            var line = string.Create(CultureInfo.InvariantCulture, $"{extent.Offset,10}  {extent.Length,10}  {type,3}");
            output.WriteLine(description is null ? line : $"{line}  {description}");
        }
    }

    /// <summary>The descriptions nbdinfo prints for the well-known contexts.</summary>
    private static string? Describe(string context, uint type)
    {
        if (context == NbdWire.BaseAllocation)
        {
            return type switch
            {
                0 => "data",
                1 => "hole",
                2 => "zero",
                3 => "hole,zero",
                _ => null,
            };
        }

        if (context.StartsWith("qemu:dirty-bitmap:", StringComparison.Ordinal))
        {
            return type switch
            {
                0 => "clean",
                1 => "dirty",
                _ => null,
            };
        }

        if (context == "qemu:allocation-depth")
        {
            return type switch
            {
                0 => "absent",
                1 => "local",
                _ => $"backing depth {type}",
            };
        }

        return null;
    }

    private static string Bool(bool value) => value ? "true" : "false";
}
