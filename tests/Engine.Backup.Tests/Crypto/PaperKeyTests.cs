using Engine.Backup.Repository.Crypto;

namespace Engine.Backup.Tests.Crypto;

/// <summary>The paper form: it restores the same key, and a typo is caught on its line.</summary>
public sealed class PaperKeyTests
{
    private static readonly DateTimeOffset Created = new(2026, 12, 6, 14, 55, 0, TimeSpan.Zero);

    [Fact]
    public void The_form_restores_the_same_key_and_date()
    {
        using var key = RepositoryKey.Generate();

        var form = PaperKey.Format(key, Created);
        using var restored = PaperKey.Parse(form, "page", out var created);

        Assert.Equal(key.Material.ToArray(), restored.Material.ToArray());
        Assert.Equal(Created, created);
        Assert.Contains($"id:      {key.Id}", form, StringComparison.Ordinal);
        Assert.Equal(4, form.Split('\n').Count(l => l.Length > 1 && char.IsAsciiDigit(l[0]) && l[1] == ':'));
    }

    [Fact]
    public void Retyped_in_capitals_with_other_spacing_and_no_header_it_still_restores()
    {
        using var key = RepositoryKey.Generate();
        var lines = PaperKey.Format(key, Created).Split('\n').Where(l => l.Length > 1 && char.IsAsciiDigit(l[0]) && l[1] == ':');

        var typed = string.Join("\r\n", lines.Reverse().Select(l => "  " + l.ToUpperInvariant().Replace(" ", "", StringComparison.Ordinal)));
        using var restored = PaperKey.Parse(typed, "page", out var created);

        Assert.Equal(key.Id, restored.Id);
        Assert.Null(created);
    }

    [Fact]
    public void A_typo_is_caught_on_its_line()
    {
        // A fixed key: a one-byte check lets 1 typo in 256 through, so a random key would make this test flaky.
        using var key = RepositoryKey.FromBytes(Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray());
        var lines = PaperKey.Format(key, Created).Split('\n');
        var index = Array.FindIndex(lines, l => l.StartsWith("3:", StringComparison.Ordinal));
        var digit = lines[index][3];
        lines[index] = string.Concat(lines[index].AsSpan(0, 3), digit == '0' ? "1" : "0", lines[index].AsSpan(4));

        var e = Assert.Throws<KeyFileException>(() => PaperKey.Parse(string.Join('\n', lines), "page", out _));

        Assert.Equal(KeyFileProblem.Damaged, e.Problem);
        Assert.StartsWith("page: not a valid paper key: line 3: the check ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("does not match: a typo in this line", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_line_or_a_wrong_id_is_caught()
    {
        using var key = RepositoryKey.Generate();
        using var other = RepositoryKey.Generate();
        var form = PaperKey.Format(key, Created);
        var withoutLine2 = string.Join('\n', form.Split('\n').Where(l => !l.StartsWith("2:", StringComparison.Ordinal)));
        var wrongId = form.Replace(key.Id, other.Id, StringComparison.Ordinal);

        var missing = Assert.Throws<KeyFileException>(() => PaperKey.Parse(withoutLine2, "page", out _));
        var mismatch = Assert.Throws<KeyFileException>(() => PaperKey.Parse(wrongId, "page", out _));

        Assert.Equal("page: not a valid paper key: line 2 is missing", missing.Message);
        Assert.Equal($"page: not a valid paper key: every line checks, but the key's id is {key.Id}, not {other.Id} as the form says", mismatch.Message);
    }
}
