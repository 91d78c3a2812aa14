namespace Engine.Fuzz.Tests;

/// <summary>
/// Replays every seed of every target, as CI's share of the fuzzing: each must be handled cleanly (accepted, or
/// refused with the parser's documented exception) and promptly. The seeds are valid inputs and near misses, so
/// this also keeps the parsers accepting what real tools write.
/// </summary>
[Collection(FuzzTargetCollection.Name)]
public sealed class CorpusReplayTests
{
    public static TheoryData<string, string> Seeds => FuzzInputs.Under("corpora");

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Seed_is_handled_cleanly(string target, string file) => FuzzInputs.Replay(target, file);

    [Fact]
    public void Every_target_has_seeds()
    {
        var seeded = Seeds.Select(row => (string)row[0]).ToHashSet(StringComparer.Ordinal);
        Assert.All(FuzzTargets.All, target => Assert.Contains(target.Name, seeded));
    }
}
