using System.Security.Cryptography;
using System.Text.Json;
using Engine.Blocks;
using Engine.Interop.Tests.Infrastructure;
using Engine.Nbd.Client;
using static Engine.Interop.Tests.Client.ClientInterop;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests.Client;

/// <summary>Engine's NBD client and `engine info` against qemu-nbd (QEMU 7.2): raw and qcow2 images, dirty bitmaps, discard.</summary>
public sealed class QemuNbdClientTests
{
    private static Task<ServerProcess> QemuNbdAsync(TempDir dir, string socketName, params string[] args) =>
        ServerProcess.StartUnixAsync("qemu-nbd", dir[socketName], ["-k", dir[socketName], .. args]);

    [Fact]
    public async Task RawImage_WritableExport_ReadsByteExact()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], 24 * MiB, 301);
        var expected = await File.ReadAllBytesAsync(file);
        await using var server = await QemuNbdAsync(dir, "q.sock", "-f", "raw", "-t", "--shared=8", "-x", "disk", "-D", "qemu raw disk", file);

        await using var client = await NbdClient.ConnectAsync(server.Uri("disk"));
        Assert.Equal(24L * MiB, client.Size);
        Assert.True(client.Export.StructuredReplies, "qemu-nbd offers structured replies");
        Assert.False(client.Export.ExtendedHeaders, "QEMU 7.2 has no extended headers");
        Assert.False(client.Export.IsReadOnly);
        Assert.Equal("qemu raw disk", client.Export.Description);
        Assert.True(client.Export.CanMultiConn, "qemu-nbd advertises multi-conn when --shared allows several clients");
        Assert.Equal(Math.Clamp(Environment.ProcessorCount, 1, 4), client.ConnectionCount); // multi-conn default: one per core, up to 4

        AssertBytes(expected, await ReadAsync(client, 0, expected.Length), "whole image in one read");
        foreach (var (offset, length) in new (long, int)[] { (0, 1), (1, 1), (4095, 3), (12_345_678, 100_000), (24 * MiB - 1, 1), (7 * MiB + 5, 3 * MiB) })
        {
            AssertBytes(expected.AsMemory((int)offset, length), await ReadAsync(client, offset, length), $"read {offset}+{length}");
        }

        var listed = await NbdClient.ListExportsAsync(NbdUri.Parse(server.Uri()));
        var export = Assert.Single(listed);
        Assert.Equal("disk", export.Name);
        Assert.Equal("qemu raw disk", export.Description);
    }

    [Fact]
    public async Task RawImage_SharedReadOnly_UsesFourConnections_ReportsTheRefusedWritesErrno()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], 16 * MiB, 302);
        var expected = await File.ReadAllBytesAsync(file);
        await using var server = await QemuNbdAsync(dir, "q.sock", "-f", "raw", "-r", "--shared=6", "-t", file);

        await using var client = await NbdClient.ConnectAsync(server.Uri());
        Assert.True(client.Export.IsReadOnly);
        Assert.True(client.Export.CanMultiConn, "qemu-nbd --shared=6 advertises multi-conn");
        Assert.Equal(Math.Clamp(Environment.ProcessorCount, 1, 4), client.ConnectionCount); // multi-conn default: one per core, up to 4

        const int chunk = 256 * KiB;
        var reads = Enumerable.Range(0, expected.Length / chunk).Select(async i =>
        {
            var data = await ReadAsync(client, (long)i * chunk, chunk);
            AssertBytes(expected.AsMemory(i * chunk, chunk), data, $"chunk {i}");
        }).ToList();
        await WithinAsync(Task.WhenAll(reads), TimeSpan.FromSeconds(30), "64 concurrent reads over 4 connections");
        AssertBytes(expected, await ReadAsync(client, 0, expected.Length), "whole image");

        // QEMU 7.2 answers a write to a read-only export with EINVAL ("Export is read-only"); libnbd, with its own
        // read-only check switched off, sees the same errno.
        var libnbd = await PyNbd.RunAsync(dir, """
            h = nbd.NBD()
            h.set_strict_mode(0)
            h.connect_uri(sys.argv[1])
            try:
                h.pwrite(b"x" * 4096, 0)
                raise AssertionError("write to a read-only export succeeded")
            except nbd.Error as e:
                print(f"ERRNO={e.errnum}")
            """, server.Uri());
        Assert.Contains("ERRNO=22", libnbd.Stdout, StringComparison.Ordinal);
        var refused = await ServerErrorAsync(() => client.WriteAsync(0, new byte[4096]).AsTask(), 22, "write to a read-only qemu-nbd export");
        Assert.Contains("Export is read-only", refused.Message, StringComparison.Ordinal);
        // The refusal leaves the connections usable.
        AssertBytes(expected.AsMemory(0, 4096), await ReadAsync(client, 0, 4096), "read after the refused write");
    }

    [Fact]
    public async Task RawImage_Writes_MatchQemuImgCompare()
    {
        using var dir = new TempDir();
        const int size = 64 * MiB;
        var file = CreateRandom(dir["disk.raw"], size, 303);
        var expected = await File.ReadAllBytesAsync(file);

        await using (var server = await QemuNbdAsync(dir, "q.sock", "-f", "raw", "-t", "--discard=unmap", file))
        {
            await using var client = await NbdClient.ConnectAsync(server.Uri());
            Assert.True(client.Capabilities.HasFlag(BlockDeviceCapabilities.WriteZeroes), "qemu-nbd advertises WRITE_ZEROES");
            Assert.False(client.Export.CanMultiConn, "qemu-nbd with the default --shared=1 does not advertise multi-conn");
            Assert.Equal(1, client.ConnectionCount);

            var writes = new (long Offset, int Length, int Seed, WriteFlags Flags)[]
            {
                (3 * MiB + 1, 40 * MiB, 1, WriteFlags.None), // more than the 32 MiB maximum payload: split by the client
                (17, 1000, 2, WriteFlags.None),
                (5 * MiB + 3, 70_000, 3, WriteFlags.Fua),
                (size - 4096, 4096, 4, WriteFlags.None),
            };
            foreach (var (offset, length, seed, flags) in writes)
            {
                var data = RandomBytes(length, seed);
                await client.WriteAsync(offset, data, flags);
                data.CopyTo(expected.AsSpan((int)offset));
            }

            await client.WriteZeroesAsync(50 * MiB, 2 * MiB, WriteZeroesFlags.None);
            expected.AsSpan(50 * MiB, 2 * MiB).Clear();
            await client.WriteZeroesAsync(56 * MiB + 512, MiB, WriteZeroesFlags.MayPunchHole | WriteZeroesFlags.Fua);
            expected.AsSpan(56 * MiB + 512, MiB).Clear();
            await client.FlushAsync();

            AssertBytes(expected, await ReadAsync(client, 0, size), "image read back through the client");
        }

        var reference = dir["expected.raw"];
        await File.WriteAllBytesAsync(reference, expected);
        (await Tool.RunAsync("qemu-img", "compare", "-f", "raw", "-F", "raw", reference, file)).AssertSuccess();
    }

    [Fact]
    public async Task Qcow2Image_ReadsLikeQemuImgConvert_ExtentsLikeNbdinfo()
    {
        using var dir = new TempDir();
        var image = dir["img.qcow2"];
        (await Tool.RunAsync("qemu-img", "create", "-f", "qcow2", image, "32M")).AssertSuccess();
        (await Tool.RunAsync("qemu-io", "-f", "qcow2",
            "-c", "write -P 0x5a 1M 64k",
            "-c", "write -P 0xa5 4194404 300000", // unaligned
            "-c", "write -P 0x01 16M 2M",
            "-c", "write -z 17M 256k",
            "-c", "write -P 0x7f 33553920 512", // the last sector
            image)).AssertSuccess();
        var raw = dir["ref.raw"];
        (await Tool.RunAsync("qemu-img", "convert", "-f", "qcow2", "-O", "raw", image, raw)).AssertSuccess();
        var expected = await File.ReadAllBytesAsync(raw);

        await using var server = await QemuNbdAsync(dir, "q.sock", "-f", "qcow2", "-r", "-t", "--shared=8", image);
        await using var client = await NbdClient.ConnectAsync(server.Uri());
        Assert.Equal(expected.Length, client.Size);

        var read = await ReadAsync(client, 0, expected.Length);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(expected)), Convert.ToHexStringLower(SHA256.HashData(read)));

        var mine = await ClientMapAsync(client);
        var theirs = await NbdinfoMapAsync(server.Uri());
        AssertMapsEqual(theirs, mine, "base:allocation of the qcow2 image: client vs nbdinfo --map");
        Assert.Contains(mine, e => e.Type == 0 && e.Offset <= MiB && e.Offset + e.Length >= MiB + (64 * KiB)); // data at 1M
        Assert.Contains(mine, e => (e.Type & 2) != 0 && e.Offset <= 17 * MiB && e.Offset + e.Length >= 17 * MiB + (256 * KiB)); // zero cluster
    }

    [Fact]
    public async Task DirtyBitmap_AndAllocationDepth_MatchNbdinfoExactly()
    {
        using var dir = new TempDir();
        var image = dir["img.qcow2"];
        (await Tool.RunAsync("qemu-img", "create", "-f", "qcow2", image, "16M")).AssertSuccess();
        (await Tool.RunAsync("qemu-img", "bitmap", "--add", "--enable", image, "b0")).AssertSuccess();
        (await Tool.RunAsync("qemu-io", "-f", "qcow2",
            "-c", "write -P 0x5a 1M 64k",
            "-c", "write -P 0xa5 3M 128k",
            "-c", "write -P 0x33 5M 4k",
            "-c", "write -P 0x77 7340132 1000", // unaligned, inside the granule at 7M
            "-c", "write -P 0x42 15M 1M", // up to the end
            image)).AssertSuccess();

        await using var server = await QemuNbdAsync(dir, "q.sock", "-f", "qcow2", "-r", "-B", "b0", "-A", "-t", "--shared=8", image);
        var uri = server.Uri();

        var contexts = await NbdClient.ListMetaContextsAsync(NbdUri.Parse(uri));
        foreach (var name in new[] { "base:allocation", "qemu:allocation-depth", "qemu:dirty-bitmap:b0" })
        {
            Assert.True(contexts.Contains(name), $"ListMetaContextsAsync lacks {name}: [{string.Join(", ", contexts)}]");
        }

        const string bitmap = "qemu:dirty-bitmap:b0";
        await using (var client = await NbdClient.ConnectAsync(uri, new NbdClientOptions { MetaContexts = [bitmap, "qemu:allocation-depth"] }))
        {
            Assert.True(client.Export.MetaContexts.ContainsKey(bitmap), $"{bitmap} not negotiated: {string.Join(", ", client.Export.MetaContexts.Keys)}");
            var dirty = await ClientMapAsync(client, bitmap);
            const long g = 64 * KiB; // the bitmap's default granularity
            MapEntry[] expectedDirty =
            [
                new(0, MiB, 0), new(MiB, g, 1), new(MiB + g, (2 * MiB) - g, 0), new(3 * MiB, 2 * g, 1),
                new((3 * MiB) + (2 * g), (2 * MiB) - (2 * g), 0), new(5 * MiB, g, 1), new((5 * MiB) + g, (2 * MiB) - g, 0),
                new(7 * MiB, g, 1), new((7 * MiB) + g, (8 * MiB) - g, 0), new(15 * MiB, MiB, 1),
            ];
            AssertMapsEqual(expectedDirty, dirty, "dirty bitmap from the writes made");
            AssertMapsEqual(await NbdinfoMapAsync(uri, bitmap), dirty, $"{bitmap}: client vs nbdinfo");
            AssertMapsEqual(await NbdinfoMapAsync(uri, "qemu:allocation-depth"), await ClientMapAsync(client, "qemu:allocation-depth"), "qemu:allocation-depth: client vs nbdinfo");
            AssertMapsEqual(await NbdinfoMapAsync(uri), await ClientMapAsync(client), "base:allocation: client vs nbdinfo");
        }

        foreach (var map in new[] { $"--map={bitmap}", "--map=base:allocation", "--map=qemu:allocation-depth", "--map" })
        {
            var theirs = (await Tool.RunAsync("nbdinfo", map, uri)).AssertSuccess();
            var ours = (await EngineAsync("info", map, uri)).AssertSuccess();
            Assert.True(theirs.Stdout == ours.Stdout, $"engine info {map} differs from nbdinfo {map}\n--- nbdinfo ---\n{theirs.Stdout}\n--- engine ---\n{ours.Stdout}\n{ours.Stderr}");
        }

        // engine copy --dirty-bitmap: exactly the dirty ranges, at their offsets, into a new (so otherwise zero) file.
        var whole = dir["whole.raw"];
        (await Tool.RunAsync("nbdcopy", uri, whole)).AssertSuccess();
        var expected = await File.ReadAllBytesAsync(whole);
        var dirtyBytes = 0L;
        foreach (var extent in await NbdinfoMapAsync(uri, bitmap))
        {
            if (extent.Type == 1)
            {
                dirtyBytes += extent.Length;
            }
            else
            {
                expected.AsSpan((int)extent.Offset, (int)extent.Length).Clear();
            }
        }

        var incremental = dir["incremental.raw"];
        var copy = (await EngineAsync("copy", "--dirty-bitmap", "b0", "--json", uri, incremental)).AssertSuccess();
        using (var doc = JsonDocument.Parse(copy.Stdout))
        {
            Assert.Equal(dirtyBytes, doc.RootElement.GetProperty("data_bytes").GetInt64());
        }

        AssertBytes(expected, await File.ReadAllBytesAsync(incremental), "engine copy --dirty-bitmap b0");
    }

    [Fact]
    public async Task Trim_WithDiscardUnmap_DeallocatesTheFileBlocks()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], 8 * MiB, 304);
        var original = await File.ReadAllBytesAsync(file);
        var before = await AllocatedBytesAsync(file);
        Assert.True(before >= 8 * MiB, $"the test file should start fully allocated, has {before} bytes");

        await using (var server = await QemuNbdAsync(dir, "q.sock", "-f", "raw", "-t", "--discard=unmap", file))
        {
            await using var client = await NbdClient.ConnectAsync(server.Uri());
            Assert.True(client.Capabilities.HasFlag(BlockDeviceCapabilities.Trim), "qemu-nbd --discard=unmap advertises TRIM");
            await client.TrimAsync(2 * MiB, MiB);
            await client.FlushAsync();

            var after = await AllocatedBytesAsync(file);
            Assert.True(before - after >= MiB, $"TRIM of 1 MiB freed {before - after} bytes ({before} -> {after})");
            AssertBytes(original.AsMemory(0, 2 * MiB), await ReadAsync(client, 0, 2 * MiB), "data before the trimmed range");
            AssertBytes(original.AsMemory(3 * MiB), await ReadAsync(client, 3 * MiB, 5 * MiB), "data after the trimmed range");
        }

        var layout = SeekLayout(file);
        Assert.Contains(layout, r => !r.Data && r.Offset <= 2 * MiB && r.End >= 3 * MiB);
    }

    [Fact]
    public async Task EngineInfo_Json_ReportsTheExport()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], 5 * MiB, 305);
        await using var server = await QemuNbdAsync(dir, "q.sock", "-f", "raw", "-r", "-t", "-x", "disk", "-D", "Engine \"test\" disk", file);

        var result = (await EngineAsync("info", server.Uri("disk"), "--json")).AssertSuccess();
        using var doc = JsonDocument.Parse(result.Stdout);
        var root = doc.RootElement;
        Assert.Equal(5L * MiB, root.GetProperty("export_size").GetInt64());
        Assert.Equal("disk", root.GetProperty("export_name").GetString());
        Assert.True(root.GetProperty("is_read_only").GetBoolean(), result.Stdout);
        Assert.Equal(server.Uri("disk"), root.GetProperty("uri").GetString());
        Assert.Contains("base:allocation", root.GetProperty("contexts").EnumerateArray().Select(e => e.GetString()));

        Assert.Equal("Engine \"test\" disk", root.GetProperty("description").GetString());

        var text = (await EngineAsync("info", server.Uri("disk"))).AssertSuccess();
        Assert.Contains($"export-size: {5 * MiB}", text.Stdout, StringComparison.Ordinal);

        var list = (await EngineAsync("info", "--list", server.Uri("disk"), "--json")).AssertSuccess();
        using var listDoc = JsonDocument.Parse(list.Stdout);
        var exports = listDoc.RootElement.GetProperty("exports").EnumerateArray().ToList();
        Assert.True(exports.Count == 1, list.Stdout);
        Assert.Equal("disk", exports[0].GetProperty("name").GetString());
        Assert.Equal("Engine \"test\" disk", exports[0].GetProperty("description").GetString());
    }

    [Fact]
    public async Task BusyServer_NeverGreets_ConnectAndListFailWithNbdConnectException()
    {
        using var dir = new TempDir();
        var file = CreateRandom(dir["disk.raw"], MiB, 306);
        // --shared=1 (the default): while one client is connected qemu-nbd does not accept another, so a second
        // connection is queued by the kernel and never sees the greeting.
        await using var server = await QemuNbdAsync(dir, "q.sock", "-f", "raw", "-r", "--shared=1", "-t", file);
        await using var first = await NbdClient.ConnectAsync(server.Uri(), new NbdClientOptions { Connections = 1 });

        var connect = await FaultWithinAsync(
            NbdClient.ConnectAsync(server.Uri(), new NbdClientOptions { HandshakeTimeout = TimeSpan.FromSeconds(2) }),
            TimeSpan.FromSeconds(10), "ConnectAsync to a server that never greets (HandshakeTimeout 2 s)");
        Assert.IsType<NbdConnectException>(connect);
        Assert.Contains(server.SocketPath!, connect.Message, StringComparison.Ordinal);

        var list = await FaultWithinAsync(
            NbdClient.ListExportsAsync(NbdUri.Parse(server.Uri()), new NbdClientOptions { HandshakeTimeout = TimeSpan.FromSeconds(2) }),
            TimeSpan.FromSeconds(10), "ListExportsAsync to a server that never greets (HandshakeTimeout 2 s)");
        Assert.True(list is NbdConnectException, $"expected NbdConnectException, got {list.GetType().FullName}: {list.Message}");
    }
}
