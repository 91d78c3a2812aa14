namespace Engine.Fuzz.Tests;

/// <summary>
/// Every crash or hang the fuzzer found, byte for byte (<c>Regressions/TARGET/NAME.bin</c>), replayed through its
/// target: each must now be refused cleanly and promptly. The clean error each one gets is asserted in the
/// target-specific tests beside this file.
/// </summary>
[Collection(FuzzTargetCollection.Name)]
public sealed class RegressionReplayTests
{
    public static TheoryData<string, string> Findings => FuzzInputs.Under("Regressions");

    [Theory]
    [MemberData(nameof(Findings))]
    public void Finding_is_handled_cleanly(string target, string file) => FuzzInputs.Replay(target, file);
}
