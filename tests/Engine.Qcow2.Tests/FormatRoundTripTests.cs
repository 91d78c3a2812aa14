using Engine.Qcow2.Format;

namespace Engine.Qcow2.Tests;

/// <summary>Every Format type writes what it parses, bit for bit, and parses what it writes.</summary>
public sealed class FormatRoundTripTests
{
    [Theory]
    [InlineData(2u, 72u)]
    [InlineData(3u, 104u)]
    [InlineData(3u, 112u)]
    public void Header_round_trips(uint version, uint headerLength)
    {
        var header = new Qcow2Header
        {
            Version = version,
            BackingFileOffset = 0x1f0,
            BackingFileSize = 12,
            ClusterBits = 16,
            Size = 10UL << 30,
            L1Size = 20,
            L1TableOffset = 0x30000,
            RefcountTableOffset = 0x10000,
            RefcountTableClusters = 1,
            SnapshotCount = 2,
            SnapshotsOffset = 0x50000,
            IncompatibleFeatures = version == 3 && headerLength > 104
                ? Qcow2IncompatibleFeatures.CompressionType | Qcow2IncompatibleFeatures.ExtendedL2
                : Qcow2IncompatibleFeatures.None,
            CompatibleFeatures = version == 3 ? Qcow2CompatibleFeatures.LazyRefcounts : Qcow2CompatibleFeatures.None,
            AutoclearFeatures = version == 3 ? Qcow2AutoclearFeatures.Bitmaps : Qcow2AutoclearFeatures.None,
            RefcountOrder = version == 3 ? 5 : 4,
            HeaderLength = headerLength,
            CompressionType = version == 3 && headerLength > 104 ? Qcow2CompressionType.Zstd : Qcow2CompressionType.Deflate,
        };
        var bytes = new byte[512];
        Assert.Equal((int)headerLength, header.WriteTo(bytes));
        var parsed = Qcow2Header.Parse(bytes);
        Assert.Equal(header, parsed);
        var again = new byte[512];
        parsed.WriteTo(again);
        Assert.Equal(bytes, again);
    }

    [Fact]
    public void Header_rejects_refcount_order_out_of_range()
    {
        var bytes = new byte[512];
        new Qcow2Header { Size = 1 << 20, RefcountOrder = 4 }.WriteTo(bytes);
        bytes[99] = 7;
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2Header.Parse(bytes, "x.qcow2"));
        Assert.Equal(96, error.Offset);
        Assert.Contains("x.qcow2: at offset 96: refcount_order 7", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Header_extensions_round_trip_and_a_lying_length_is_refused()
    {
        IReadOnlyList<Qcow2HeaderExtension> extensions =
        [
            Qcow2HeaderExtension.FromString(Qcow2HeaderExtensionType.BackingFormat, "qcow2"),
            Qcow2FeatureName.ToHeaderExtension([new(Qcow2FeatureKind.Incompatible, 0, "dirty bit"), new(Qcow2FeatureKind.Autoclear, 0, "bitmaps")]),
            new Qcow2BitmapsExtension(2, 96, 0x40000).ToHeaderExtension(),
        ];
        var area = new byte[4096];
        var written = Qcow2HeaderExtension.WriteArea(extensions, area);
        Assert.Equal(8 + 8 + 8 + 96 + 8 + 24 + 8, written);

        var parsed = Qcow2HeaderExtension.ParseArea(area, 112);
        Assert.Equal(3, parsed.Count);
        Assert.Equal("qcow2", parsed[0].DataAsString());
        var names = Qcow2FeatureName.ParseTable(parsed[1].Data.Span);
        Assert.Equal("bitmaps", Qcow2FeatureName.Find(names, Qcow2FeatureKind.Autoclear, 0));
        Assert.Equal(new Qcow2BitmapsExtension(2, 96, 0x40000), Qcow2BitmapsExtension.Parse(parsed[2].Data.Span));

        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(area.AsSpan(4), 5000);
        var error = Assert.Throws<Qcow2FormatException>(() => Qcow2HeaderExtension.ParseArea(area, 112, "a.qcow2"));
        Assert.Equal(116, error.Offset);
        Assert.Contains("claims 5000 bytes", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(9)]
    [InlineData(16)]
    [InlineData(21)]
    public void Compressed_descriptor_round_trips_at_every_cluster_size(int clusterBits)
    {
        var length = (1 << clusterBits) * 3 / 4;
        var descriptor = CompressedClusterDescriptor.For(0x12345677, length, clusterBits);
        var entry = L2Entry.Compressed(descriptor, clusterBits);
        var bytes = new byte[8];
        entry.WriteTo(bytes);
        var parsed = L2Entry.Parse(bytes);
        Assert.True(parsed.IsCompressed);
        Assert.Equal(descriptor, parsed.GetCompressed(clusterBits));
        Assert.True(parsed.GetCompressed(clusterBits).MaxCompressedLength >= (ulong)length);
        Assert.Equal(0x12345677UL, parsed.GetCompressed(clusterBits).HostOffset);
    }

    [Fact]
    public void Table_entries_round_trip()
    {
        var bytes = new byte[16];
        var l1 = L1Entry.Create(0x7_0000, copied: true);
        l1.WriteTo(bytes);
        Assert.Equal(l1, L1Entry.Parse(bytes));
        Assert.Equal(0x7_0000UL, L1Entry.Parse(bytes).L2Offset);

        var l2 = L2Entry.Standard(0x9_0000, copied: true, zero: true);
        l2.WriteTo(bytes);
        Assert.True(L2Entry.Parse(bytes).HasZeroFlag);
        Assert.Equal(0x9_0000UL, L2Entry.Parse(bytes).HostOffset);

        var extended = new ExtendedL2Entry(L2Entry.Standard(0x4_0000, true), SubclusterBitmap.Create(0x0000_00ff, 0xff00_0000));
        extended.WriteTo(bytes);
        var parsedExtended = ExtendedL2Entry.Parse(bytes);
        Assert.Equal(extended, parsedExtended);
        Assert.True(parsedExtended.Bitmap.IsAllocated(7));
        Assert.False(parsedExtended.Bitmap.IsAllocated(8));
        Assert.True(parsedExtended.Bitmap.IsZero(31));

        var refcount = RefcountTableEntry.Create(0x2_0000);
        refcount.WriteTo(bytes);
        Assert.Equal(refcount, RefcountTableEntry.Parse(bytes));

        var bitmap = BitmapTableEntry.Unstored(allOnes: true);
        bitmap.WriteTo(bytes);
        Assert.True(BitmapTableEntry.Parse(bytes).ReadsAsOnes);
        Assert.False(BitmapTableEntry.Stored(0x6_0000).ReadsAsOnes);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void Refcount_block_entries_round_trip_at_every_order(int order)
    {
        var block = new byte[512];
        var entries = 512 * 8 >> order;
        var max = RefcountBlock.MaxRefcount(order);
        for (var i = 0; i < entries; i++)
        {
            RefcountBlock.Set(block, i, order, (ulong)i * 7919 & max);
        }
        for (var i = 0; i < entries; i++)
        {
            Assert.Equal((ulong)i * 7919 & max, RefcountBlock.Get(block, i, order));
        }
    }

    [Fact]
    public void Refcount_order_zero_packs_from_the_least_significant_bit()
    {
        var block = new byte[1];
        RefcountBlock.Set(block, 0, 0, 1);
        RefcountBlock.Set(block, 3, 0, 1);
        Assert.Equal(0b0000_1001, block[0]);
    }

    [Fact]
    public void Bitmap_directory_round_trips()
    {
        BitmapDirectoryEntry[] entries =
        [
            new() { TableOffset = 0x5_0000, TableSize = 1, Flags = BitmapFlags.Auto, GranularityBits = 16, Name = "b0" },
            new() { TableOffset = 0x6_0000, TableSize = 3, Flags = BitmapFlags.InUse, GranularityBits = 9, Name = "nightly-2026", ExtraData = new byte[] { 1, 2, 3 } },
        ];
        var directory = new byte[entries.Sum(e => e.EncodedLength)];
        var position = 0;
        foreach (var entry in entries)
        {
            position += entry.WriteTo(directory.AsSpan(position));
        }
        var parsed = BitmapDirectoryEntry.ParseDirectory(directory, 2);
        Assert.Equal(entries[0], parsed[0] with { ExtraData = entries[0].ExtraData });
        Assert.Equal("nightly-2026", parsed[1].Name);
        Assert.Equal([1, 2, 3], parsed[1].ExtraData.ToArray());
        Assert.Equal(BitmapFlags.InUse, parsed[1].Flags);
        Assert.Throws<Qcow2FormatException>(() => BitmapDirectoryEntry.ParseDirectory(directory, 3));
    }

    [Fact]
    public void Layout_matches_the_specification()
    {
        var standard = new Qcow2Layout(16, ExtendedL2: false);
        Assert.Equal(8192, standard.L2Entries);
        Assert.Equal(512L << 20, standard.BytesPerL2Table);
        Assert.Equal(20UL, standard.L1EntriesFor(10UL << 30));
        Assert.Equal(32768L, standard.RefcountBlockEntries(4));

        var extended = new Qcow2Layout(16, ExtendedL2: true);
        Assert.Equal(4096, extended.L2Entries);
        Assert.Equal(2048, extended.SubclusterSize);
        Assert.Equal(3, extended.SubclusterIndex(0x1_1800));
        Assert.Equal(1, extended.L2Index(0x1_1800));
    }
}
