using Engine.Fuzz;
using SharpFuzz;

// Engine.Fuzz --list                  the target names, one per line, then a tab and what each feeds
// Engine.Fuzz TARGET                  the AFL entry point (run.sh starts it under afl-fuzz): one input per run on stdin
// Engine.Fuzz --replay TARGET FILE... runs files through a target outside AFL and prints what each did (triage)
if (args is ["--list"])
{
    foreach (var target in FuzzTargets.All)
    {
        Console.WriteLine($"{target.Name}\t{target.Description}");
    }

    return 0;
}

if (args is ["--replay", var replayName, .. var files] && FuzzTargets.Find(replayName) is { } replayTarget)
{
    var failed = 0;
    foreach (var file in files)
    {
        var input = File.ReadAllBytes(file);
        try
        {
            replayTarget.Run(input.AsSpan(0, Math.Min(input.Length, FuzzTargets.MaxInputBytes)));
            Console.WriteLine($"{file}: ok");
        }
        catch (Exception e)
        {
            failed++;
            Console.WriteLine($"{file}: CRASH {e}");
        }
    }

    return failed == 0 ? 0 : 1;
}

if (args is [var name] && FuzzTargets.Find(name) is { } fuzzTarget)
{
    var buffer = new byte[FuzzTargets.MaxInputBytes];
    Fuzzer.Run(stream =>
    {
        var length = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        fuzzTarget.Run(buffer.AsSpan(0, length));
    });
    return 0;
}

Console.Error.WriteLine("usage: Engine.Fuzz --list | TARGET | --replay TARGET FILE...");
return 64;
