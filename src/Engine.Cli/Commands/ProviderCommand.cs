using System.CommandLine;
using Engine.Backup;
using Engine.Backup.Repository;
using Engine.Provider.Protocol;
using Engine.Provider.Repository;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine provider --repo DIR [--mechanism nbd|file-handle] [--fd-channel N]</c>: the long-lived process behind PVE's backup
/// provider plugin. Reads one JSON request per line on stdin, answers one JSON line each on stdout, with log lines
/// interleaved (docs/provider-protocol.md); ends at end of input.
/// </summary>
internal static class ProviderCommand
{
    public static Command Create()
    {
        var repo = new Option<string>("--repo") { Description = "Repository directory (created when missing), or s3://BUCKET/PREFIX made by engine init (credentials and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION).", Required = true };
        var mechanism = new Option<string>("--mechanism") { Description = "VM backup mechanism to ask PVE for: nbd or file-handle.", DefaultValueFactory = _ => "nbd" };
        mechanism.AcceptOnlyFromAmong("nbd", "file-handle");
        var fdChannel = new Option<int?>("--fd-channel")
        {
            Description = "Inherited Unix socket (SOCK_SEQPACKET) on which file-handle volumes' descriptors arrive by SCM_RIGHTS.",
        };
        fdChannel.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 0 and var fd)
            {
                r.AddError($"--fd-channel {fd}: a descriptor number is 0 or more");
            }
        });
        var containerRestore = new Option<string>("--container-restore")
        {
            Description = "How containers are restored: a pax tar file (tar) or a directory tree (directory).",
            DefaultValueFactory = _ => "tar",
        };
        containerRestore.AcceptOnlyFromAmong("tar", "directory");
        var runtimeDirectory = new Option<string?>("--runtime-dir")
        {
            Description = "Where restores put their sockets, FUSE mounts and container tars or trees (default: the temporary directory).",
        };
        var command = new Command("provider", "Serve PVE's backup provider callbacks as JSON lines on stdin/stdout.") { repo, mechanism, fdChannel, containerRestore, runtimeDirectory };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(repo)!, parse.GetValue(fdChannel), new EngineRepositoryProviderOptions
        {
            VmMechanism = parse.GetValue(mechanism)!,
            ContainerRestoreMechanism = parse.GetValue(containerRestore)!,
            RuntimeDirectory = parse.GetValue(runtimeDirectory),
        }));
        return command;
    }

    private static async Task<int> RunAsync(string repoPath, int? fdChannel, EngineRepositoryProviderOptions options)
    {
        using var signal = new ShutdownSignal();
        DescriptorChannel? descriptors = null;
        try
        {
            descriptors = fdChannel is { } fd ? DescriptorChannel.FromInherited(fd) : null;
            // A directory or an s3:// repository (credentials from the environment the Perl plugin sets).
            using var repository = await RepositoryCommandSupport.OpenAsync(repoPath, create: true, signal.Token).ConfigureAwait(false);
            using var stdout = Console.OpenStandardOutput();
            var writer = new ProtocolWriter(stdout);
            await using var provider = new EngineRepositoryProvider(repository, writer.Log, options);
            using var stdin = Console.OpenStandardInput();
            await new ProviderProtocolHost(provider, writer, descriptors).RunAsync(stdin, signal.Token).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        catch (OperationCanceledException) when (signal.Token.IsCancellationRequested)
        {
            return ExitCodes.Ok;
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"engine provider: {ex.Message}");
            return ExitCodes.Usage;
        }
        catch (RepositoryNotFoundException ex)
        {
            Console.Error.WriteLine($"engine provider: {RepositoryCommandSupport.NotFoundText(ex, repoPath)}");
            return ExitCodes.NoInput;
        }
        catch (Exception ex) when (ex is IOException or RepositoryException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"engine provider: {ErrorText.Full(ex)}");
            return ExitCodes.Failure;
        }
        finally
        {
            descriptors?.Dispose();
        }
    }
}
