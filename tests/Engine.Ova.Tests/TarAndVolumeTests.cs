using Engine.Ova.Tar;
using Engine.Ova.Tests.Infrastructure;
using Engine.Ova.Volumes;

namespace Engine.Ova.Tests;

/// <summary>Tar header variants and PVE volume names.</summary>
public sealed class TarAndVolumeTests
{
    [Fact]
    public void GnuLongName_Pax_Base256_AreRead()
    {
        var longName = new string('d', 150) + ".vmdk";
        var archive = new TarBuilder()
            .GnuLongName(longName).File("truncated-name", [1, 2, 3])
            .PaxPath("folder/" + longName).File("ignored", [4, 5])
            .File("base256.bin", [6, 7, 8, 9], base256: true)
            .Build();

        using var reader = new TarReader(new NonSeekableStream(archive), "test.tar");
        var entries = new List<(string, long)>();
        var contents = new List<byte>();
        while (reader.Next() is { } entry)
        {
            var data = new byte[entry.Size];
            reader.ReadExactly(data);
            entries.Add((entry.Name, entry.Size));
            contents.AddRange(data);
        }

        Assert.Equal([(longName, 3L), ("folder/" + longName, 2L), ("base256.bin", 4L)], entries);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, contents.ToArray());
    }

    [Fact]
    public async Task GnuTarOwnArchives_PosixPrefixAndPax()
    {
        using var dir = new Scratch();
        var folder = Directory.CreateDirectory(dir["pkg/" + new string('f', 120)]).FullName;
        var name = new string('n', 90) + ".bin";
        await File.WriteAllBytesAsync(Path.Combine(folder, name), [42]);
        foreach (var format in new[] { "ustar", "gnu", "pax" })
        {
            var tar = await Images.TarAsync(dir[$"{format}.tar"], dir["pkg"], format, Path.GetFileName(folder) + "/" + name);
            using var reader = new TarReader(File.OpenRead(tar), tar);
            var entry = reader.Next();
            Assert.NotNull(entry);
            Assert.Equal(Path.GetFileName(folder) + "/" + name, entry.Name);
            Assert.Equal(1, entry.Size);
        }
    }

    [Theory]
    [InlineData("./disk.vmdk", "disk.vmdk")]
    [InlineData("dir//disk.vmdk", "dir/disk.vmdk")]
    [InlineData("../disk.vmdk", null)]
    [InlineData("/etc/passwd", null)]
    [InlineData("a/./b", null)]
    [InlineData("a\\b", null)]
    public void MemberNames(string name, string? normalized) => Assert.Equal(normalized, TarNames.Normalize(name));

    [Fact]
    public void VolumeName_AsPveParsesIt()
    {
        var volume = ImportVolumeName.Parse("local:import/my appliance.ova/disk-1.vmdk");
        Assert.Equal(("local", "my appliance.ova", "disk-1.vmdk", "vmdk"), (volume.Storage, volume.Archive, volume.InnerFile, volume.Format));
        Assert.Equal("local:import/my appliance.ova/disk-1.vmdk", volume.ToString());
        Assert.Equal("qcow2", ImportVolumeName.Parse("nfs-store.1:import/a.ova/b.qcow2").Format);
    }

    [Theory]
    [InlineData("import/a.ova/disk.vmdk")]
    [InlineData("local:images/a.ova/disk.vmdk")]
    [InlineData("local:import/a.ova/../disk.vmdk")]
    [InlineData("local:import/a.ova/sub/disk.vmdk")]
    [InlineData("local:import/a.ova/disk.iso")]
    [InlineData("local:import/a;rm.ova/disk.vmdk")]
    [InlineData("1local:import/a.ova/disk.vmdk")]
    [InlineData("local:import/a.tar/disk.vmdk")]
    public void VolumeName_Refused(string volumeId) => Assert.Throws<FormatException>(() => ImportVolumeName.Parse(volumeId));
}
