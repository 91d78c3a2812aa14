using System.Globalization;
using System.Runtime.InteropServices;
using Engine.Provider.Protocol;
using ImageFiles;

// The process behind PVE's backup provider plugin, started the way the Perl plugin starts `engine provider`:
//   image-files-provider provider --repo DIR [--mechanism nbd|file-handle] [--container-restore tar] [--fd-channel N]
// It reads one JSON request per line on stdin and answers on stdout until its input ends.
string? root = null;
int? fdChannel = null;
var mechanism = "nbd";
var rest = args is ["provider", ..] ? args[1..] : args;
for (var i = 0; i < rest.Length; i += 2)
{
    var value = i + 1 < rest.Length ? rest[i + 1] : null;
    switch (rest[i], value)
    {
        case ("--repo", { } directory):
            root = directory;
            break;
        case ("--mechanism", "nbd" or "file-handle"):
            mechanism = value;
            break;
        case ("--container-restore", "tar"):
            break;
        case ("--fd-channel", { } fd) when int.TryParse(fd, CultureInfo.InvariantCulture, out var number) && number >= 0:
            fdChannel = number;
            break;
        default:
            return Usage($"unexpected '{rest[i]} {value}'");
    }
}

if (root is null)
{
    return Usage("--repo is required");
}

// SIGTERM (the plugin's second try at ending us after closing our input) stops between requests.
using var stop = new CancellationTokenSource();
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

try
{
    // The host, writer and descriptor channel `engine provider` runs (Engine.Provider.Protocol).
    using var descriptors = fdChannel is { } inherited ? DescriptorChannel.FromInherited(inherited) : null;
    using var stdout = Console.OpenStandardOutput();
    var writer = new ProtocolWriter(stdout);
    await using var provider = new ImageFilesProvider(new ArchiveStore(root), mechanism, writer.Log);
    using var stdin = Console.OpenStandardInput();
    await new ProviderProtocolHost(provider, writer, descriptors).RunAsync(stdin, stop.Token);
    return 0;
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    return 0;
}
catch (IOException e)
{
    Console.Error.WriteLine($"image-files-provider: {e.Message}");
    return 1;
}

static int Usage(string problem)
{
    Console.Error.WriteLine($"image-files-provider: {problem}");
    Console.Error.WriteLine("usage: image-files-provider provider --repo DIR [--mechanism nbd|file-handle] [--container-restore tar] [--fd-channel N]");
    return 64;
}
