namespace Engine.Fuzz;

/// <summary>
/// One parser under fuzzing: takes arbitrary bytes, feeds them to the real parser and returns normally when the
/// parser accepts them or refuses them with its documented "invalid input" exception. Any other exception escaping
/// <see cref="Run"/> is a crash; a run that does not return is a hang. Constructors must not call Engine code:
/// under AFL the instrumented assemblies may only run once SharpFuzz has mapped the coverage memory.
/// </summary>
public interface IFuzzTarget
{
    /// <summary>The name <c>run.sh</c> and the corpus folder use.</summary>
    string Name { get; }

    /// <summary>What the target feeds, for <c>run.sh --list</c>.</summary>
    string Description { get; }

    /// <summary>Runs one input. Must be deterministic and leave no state behind that changes the next run.</summary>
    void Run(ReadOnlySpan<byte> input);
}
