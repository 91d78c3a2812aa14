using Engine.Sources;

namespace Engine.Backup.Tests.Sources;

public sealed class DirtyMapReaderTests
{
    private static async Task<List<SourceRange>> ReadAsync(string text, long size)
    {
        var result = new List<SourceRange>();
        await foreach (var range in DirtyMapReader.ReadAsync(new StringReader(text), "map", size))
        {
            result.Add(range);
        }

        return result;
    }

    [Fact]
    public async Task NbdinfoLayout_DirtyLinesOnly_AdjacentOnesMerged_CleanGapsKept()
    {
        const string map = """
                     0     1048576    0  clean
               1048576       65536    1  dirty
               1114112       65536    1  dirty
               1179648    51249152    0  clean
              52428800      131072    1  dirty
              52559872    14548992    0  clean
            """;
        var ranges = await ReadAsync(map, 67108864);
        Assert.Equal([new SourceRange(1048576, 131072), new SourceRange(52428800, 131072)], ranges);
    }

    [Fact]
    public async Task CleanExtentBetweenDirtyOnes_IsNeverMergedIn()
    {
        var ranges = await ReadAsync("0 65536 1 dirty\n65536 65536 0 clean\n131072 65536 1 dirty\n", 196608);
        Assert.Equal([new SourceRange(0, 65536), new SourceRange(131072, 65536)], ranges);
    }

    [Theory]
    [InlineData("0 65536\n", "expected 'offset length type")]
    [InlineData("0 65536 x dirty\n", "expected 'offset length type")]
    [InlineData("65536 65536 1 dirty\n0 65536 1 dirty\n", "overlaps")]
    [InlineData("0 999999999 1 dirty\n", "past the volume size")]
    public async Task MalformedMap_NamesFileAndLine(string text, string reason)
    {
        var error = await Assert.ThrowsAsync<FormatException>(() => ReadAsync(text, 1 << 20));
        Assert.Contains("map:", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }
}
