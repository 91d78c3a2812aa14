using System.Diagnostics;
using Engine.Blocks.Tar;

namespace Engine.Blocks.Tests;

/// <summary>
/// The shared ustar layout read against headers GNU tar wrote (ustar and GNU formats, a size too big for octal), and
/// the number and checksum helpers the container writer uses.
/// </summary>
public sealed class UstarLayoutTests
{
    [Theory]
    [InlineData("ustar")]
    [InlineData("gnu")]
    public void Headers_written_by_GNU_tar_are_read_through_the_layout(string format)
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(Path.Combine(dir.Path, "member.bin"), new byte[1234]);
        var archive = Path.Combine(dir.Path, "a.tar");
        RunTar(dir.Path, $"--format={format}", "--owner=0", "--group=0", "--mode=0640", "--mtime=@1764160000", "-cf", archive, "member.bin");
        var block = File.ReadAllBytes(archive).AsSpan(0, UstarLayout.BlockSize);

        Assert.Equal(UstarNumberStatus.Valid, UstarNumber.TryParse(block.Slice(UstarLayout.ChecksumOffset, UstarLayout.ChecksumLength), out var stored));
        Assert.Equal(stored, UstarChecksum.Compute(block).Unsigned);
        Assert.Equal(UstarNumberStatus.Valid, UstarNumber.TryParse(block.Slice(UstarLayout.SizeOffset, UstarLayout.LongFieldLength), out var size));
        Assert.Equal(1234, size);
        Assert.Equal(UstarNumberStatus.Valid, UstarNumber.TryParse(block.Slice(UstarLayout.ModeOffset, UstarLayout.ShortFieldLength), out var mode));
        Assert.Equal(0b110_100_000, mode);
        Assert.Equal(UstarNumberStatus.Valid, UstarNumber.TryParse(block.Slice(UstarLayout.MtimeOffset, UstarLayout.LongFieldLength), out var mtime));
        Assert.Equal(1764160000, mtime);
        Assert.Equal(UstarLayout.RegularFile, block[UstarLayout.TypeFlagOffset]);
        Assert.True(block.Slice(UstarLayout.NameOffset, UstarLayout.NameLength).StartsWith("member.bin\0"u8));
        Assert.Equal(format == "ustar", block.Slice(UstarLayout.MagicOffset, UstarLayout.MagicLength).SequenceEqual(UstarLayout.PosixMagic));
    }

    [Fact]
    public void A_size_past_octal_is_read_from_GNU_base_256()
    {
        // 8 GiB needs 12 octal digits, one more than the field holds: GNU tar switches to base-256.
        using var dir = new TempDirectory();
        dir.CreateSparseFile(8L << 30, "big.img");
        var archive = Path.Combine(dir.Path, "big.tar");
        RunTar(dir.Path, "--format=gnu", "-cf", "-", "big.img", $"| head -c {UstarLayout.BlockSize} > {archive}");
        var block = File.ReadAllBytes(archive).AsSpan(0, UstarLayout.BlockSize);

        Assert.NotEqual(0, block[UstarLayout.SizeOffset] & 0x80);
        Assert.Equal(UstarNumberStatus.Valid, UstarNumber.TryParse(block.Slice(UstarLayout.SizeOffset, UstarLayout.LongFieldLength), out var size));
        Assert.Equal(8L << 30, size);
        Assert.False(UstarNumber.FitsOctal(8L << 30, UstarLayout.LongFieldLength));
    }

    [Fact]
    public void Octal_round_trips_and_bad_fields_are_named()
    {
        Span<byte> field = stackalloc byte[UstarLayout.LongFieldLength];
        UstarNumber.WriteOctal(field, (1L << 33) - 1);
        Assert.True(field.SequenceEqual("77777777777\0"u8));
        Assert.Equal(UstarNumberStatus.Valid, UstarNumber.TryParse(field, out var value));
        Assert.Equal((1L << 33) - 1, value);

        UstarNumber.WriteOctal(field, 1L << 33);
        Assert.True(field.SequenceEqual("00000000000\0"u8)); // does not fit: 0, the value travels in a pax record

        Assert.Equal(UstarNumberStatus.NotOctal, UstarNumber.TryParse("0000009\0"u8, out _));
        Assert.Equal(UstarNumberStatus.NegativeBase256, UstarNumber.TryParse([0xFF, 0, 0, 0, 0, 0, 0, 1], out _));
        Assert.Equal(UstarNumberStatus.Overflow, UstarNumber.TryParse([0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], out _));
        Assert.Equal(UstarNumberStatus.Valid, UstarNumber.TryParse("  644 \0\0"u8, out var spaced));
        Assert.Equal(420, spaced);
    }

    [Fact]
    public void The_written_checksum_is_six_digits_NUL_space_and_verifies()
    {
        var block = new byte[UstarLayout.BlockSize];
        "name"u8.CopyTo(block);
        UstarLayout.PosixMagicAndVersion.CopyTo(block.AsSpan(UstarLayout.MagicOffset));
        UstarChecksum.Write(block);

        var field = block.AsSpan(UstarLayout.ChecksumOffset, UstarLayout.ChecksumLength);
        Assert.Equal((byte)0, field[6]);
        Assert.Equal((byte)' ', field[7]);
        Assert.Equal(UstarNumberStatus.Valid, UstarNumber.TryParse(field, out var stored));
        Assert.Equal(stored, UstarChecksum.Compute(block).Unsigned);
    }

    private static void RunTar(string directory, params string[] args)
    {
        // Through sh for the one pipe; every argument here is a literal of this test.
        using var process = Process.Start(new ProcessStartInfo("sh", ["-c", "tar " + string.Join(' ', args)]) { WorkingDirectory = directory, RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, error);
    }
}
