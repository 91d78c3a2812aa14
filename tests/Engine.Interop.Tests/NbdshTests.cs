using Engine.Blocks;
using Engine.Blocks.Devices;
using Engine.Interop.Tests.Infrastructure;
using Xunit.Abstractions;
using static Engine.Interop.Tests.Infrastructure.DiskFiles;

namespace Engine.Interop.Tests;

/// <summary>
/// Edge cases through nbdsh and the libnbd 1.14 Python binding: structured replies on/off, DF reads, block status,
/// meta-context listing, fast zero, out-of-range and read-only errors, block-size constraints.
/// </summary>
public sealed class NbdshTests(ITestOutputHelper output)
{
    private const long Size = 4 * MiB;
    private static readonly (long Offset, int Length)[] Data = [(0, 64 * KiB), (1 * MiB, 128 * KiB), (3 * MiB, 256 * KiB)];

    private sealed record Fixture(EngineServer Server, string RwPath, string RoPath, IBlockDevice Rw);

    private static Fixture Start(TempDir dir)
    {
        var rwPath = CreateSparse(dir["rw.raw"], Size, 71, Data);
        var roPath = CreateSparse(dir["ro.raw"], Size, 71, Data);
        var server = new EngineServer(dir);
        var rw = server.OpenFile(rwPath);
        server.Export("rw", rw, "read-write disk")
              .Export("ro", server.OpenFile(roPath, readOnly: true), "read-only disk", readOnly: true)
              .Listen();
        return new Fixture(server, rwPath, roPath, rw);
    }

    [Fact]
    public async Task Nbdsh_ConnectsAndReads()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;
        Tool.Require("nbdsh");

        // /usr/bin/nbdsh is a bash wrapper doing `exec python3 -mnbd "$@"`; PATH's python3 lacks the module, so run
        // exactly that with the system interpreter.
        var result = (await Tool.RunAsync("python3", "-m", "nbd", "-u", f.Server.Uri("rw"),
            "-c", "print(h.get_size())",
            "-c", "print(h.get_structured_replies_negotiated())",
            "-c", "print(h.pread(32, 1048576 + 100).hex())",
            "-c", "print(h.is_read_only())")).AssertSuccess();
        var expected = $"{Size}\nTrue\n{Convert.ToHexStringLower(ReadRange(f.RwPath, 1 * MiB + 100, 32))}\nFalse\n";
        Assert.Equal(expected, result.Stdout);
    }

    [Fact]
    public async Task StructuredRepliesOnAndOff_BothReadCorrectly()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;

        await PyNbd.RunAsync(dir, """
            uri, path = sys.argv[1], sys.argv[2]
            size = os.path.getsize(path)
            whole = file_bytes(path, 0, size)
            for sr in (True, False):
                h = connect(uri, structured=sr)
                eq(h.get_structured_replies_negotiated(), sr, "structured replies negotiated")
                eq(h.get_size(), size, "size")
                eq(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), sr, "base:allocation negotiated")
                eq(hashlib.sha256(h.pread(size, 0)).hexdigest(), hashlib.sha256(whole).hexdigest(), f"whole-disk read, structured={sr}")
                for off, count in [(0, 1), (65536 - 100, 200), (128 * 1024, 65536), (1048576 - 1000, 3000),
                                   (3 * 1048576 + 262144 - 7, 9), (size - 512, 512), (2 * 1048576 + 3, 65536 * 3)]:
                    eq(h.pread(count, off), whole[off:off + count], f"pread({count}, {off}), structured={sr}")
                # 64 reads in flight at once on one connection
                reqs = []
                for i in range(64):
                    off = (i * 61 * 1024 + i * 512) % (size - 65536)
                    buf = nbd.Buffer(65536)
                    reqs.append((h.aio_pread(buf, off), buf, off))
                while h.aio_in_flight() > 0:
                    h.poll(-1)
                for cookie, buf, off in reqs:
                    check(h.aio_command_completed(cookie), f"aio_pread at {off} not completed")
                    eq(bytes(buf.to_bytearray()), whole[off:off + 65536], f"aio_pread at {off}, structured={sr}")
                h.shutdown()
            """, f.Server.Uri("rw"), f.RwPath);
    }

    [Fact]
    public async Task Reads_DfAndChunks_AreSpecCompliant()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;

        var result = await PyNbd.RunAsync(dir, """
            uri, path = sys.argv[1], sys.argv[2]
            size = os.path.getsize(path)
            whole = file_bytes(path, 0, size)
            h = connect(uri)
            check(h.get_structured_replies_negotiated(), "structured replies")
            check(h.can_df(), "NBD_FLAG_SEND_DF must be advertised with structured replies")

            def chunked(off, count, flags):
                got = []
                def cb(subbuf, offset, status, err):
                    got.append((offset, len(subbuf), status, bytes(subbuf)))
                    return 0
                buf = h.pread_structured(count, off, cb, flags)
                return bytes(buf), sorted(got)

            # DF over data and hole: exactly one chunk, OFFSET_DATA, zeroes explicit (spec: MUST)
            for off, count in [(32768, 65536), (1048576 - 32768, 65536), (3 * 1048576 + 262144 - 4096, 8192), (0, 1048576 + 131072)]:
                buf, got = chunked(off, count, nbd.CMD_FLAG_DF)
                eq(buf, whole[off:off + count], f"DF pread({count}, {off})")
                eq(len(got), 1, f"DF pread({count}, {off}): number of chunks {[(o, l, s) for o, l, s, _ in got]}")
                eq(got[0][:3], (off, count, nbd.READ_DATA), f"DF pread({count}, {off}) chunk")

            # DF entirely inside a hole: one chunk, data or hole, reading as zeroes
            buf, got = chunked(2 * 1048576, 65536, nbd.CMD_FLAG_DF)
            eq(buf, bytes(65536), "DF read of a hole")
            eq(len(got), 1, "DF read of a hole: number of chunks")
            eq(got[0][:2], (2 * 1048576, 65536), "DF read of a hole: chunk range")
            check(got[0][2] in (nbd.READ_DATA, nbd.READ_HOLE), f"chunk status {got[0][2]}")

            # Without DF, a whole-disk read: the chunks tile the range exactly; hole chunks are zero
            buf, got = chunked(0, size, 0)
            eq(buf, whole, "sparse whole-disk read")
            pos = 0
            for off, length, status, data in got:
                eq(off, pos, "chunks must tile the request without gaps or overlap")
                check(status in (nbd.READ_DATA, nbd.READ_HOLE), f"chunk status {status}")
                if status == nbd.READ_HOLE:
                    eq(data, bytes(length), "hole chunk content")
                    check(whole[off:off + length] == bytes(length), f"hole chunk [{off}, {off + length}) over non-zero data")
                pos += length
            eq(pos, size, "chunks cover the request")
            print("chunks:", len(got), "hole chunks:", sum(1 for c in got if c[2] == nbd.READ_HOLE))
            """, f.Server.Uri("rw"), f.RwPath);
        Assert.Contains("chunks:", result.Stdout, StringComparison.Ordinal);
        output.WriteLine(result.Stdout);
    }

    [Fact]
    public async Task BlockStatus_MatchesFileLayout_AndReqOneReturnsOneExtent()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;
        var layout = ExpectedLayout(Size, Data);
        Assert.True(layout.SequenceEqual(SeekLayout(f.RwPath)), $"filesystem layout:\n{Describe(SeekLayout(f.RwPath))}");

        await PyNbd.RunAsync(dir, """
            uri, expected = sys.argv[1], layout(sys.argv[2])
            h = connect(uri)
            check(h.can_meta_context("base:allocation"), "base:allocation must be negotiated")
            size = h.get_size()

            def run_at(off):
                for o, l, fl in expected:
                    if o <= off < o + l:
                        return (o, l, fl)
                raise AssertionError(f"no run at {off}")

            def consistent(ext, what):
                for o, l, fl in ext:
                    for eo, el, efl in expected:
                        if eo < o + l and o < eo + el and efl != fl:
                            raise AssertionError(f"{what}: extent [{o}, {o + l}) flags {fl} overlaps [{eo}, {eo + el}) with flags {efl}")

            eq(full_map(h), expected, "base:allocation map of the whole export")

            for off, count in [(0, 4096), (65536 - 512, 1024), (1048576 + 1, 1000), (100, size - 100), (2 * 1048576, 2 * 1048576), (size - 1, 1)]:
                consistent(block_status(h, off, count), f"block_status({count}, {off})")

            for off, count in [(0, size), (32768, size - 32768), (65536, 1048576), (65536, 4096), (1048576, 65536),
                               (1048576 + 131072 - 512, 1048576), (3 * 1048576 + 4096, 8192), (size - 4096, 4096), (12345, 678)]:
                ext = block_status(h, off, count, nbd.CMD_FLAG_REQ_ONE)
                eq(len(ext), 1, f"REQ_ONE block_status({count}, {off}) returned {ext}")
                o, l, fl = ext[0]
                check(0 < l <= count, f"REQ_ONE block_status({count}, {off}): extent length {l}")
                ro, rl, rfl = run_at(off)
                eq(fl, rfl, f"REQ_ONE block_status({count}, {off}) flags")
                check(o + l <= ro + rl, f"REQ_ONE block_status({count}, {off}): extent [{o}, {o + l}) runs past [{ro}, {ro + rl})")
            """, f.Server.Uri("rw"), PyNbd.LayoutArg(layout));
    }

    [Fact]
    public async Task OptMode_ListsExportsAndMetaContexts()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;

        await PyNbd.RunAsync(dir, """
            uri, path = sys.argv[1], sys.argv[2]
            h = nbd.NBD()
            h.set_opt_mode(True)
            h.connect_uri(uri)
            check(h.aio_is_negotiating(), "opt mode: still negotiating")

            exports = []
            n = h.opt_list(lambda name, desc: exports.append((name, desc)) or 0)
            eq(sorted(e[0] for e in exports), ["ro", "rw"], "NBD_OPT_LIST export names")
            eq(n, 2, "opt_list count")

            def listed(*queries):
                h.clear_meta_contexts()
                for q in queries:
                    h.add_meta_context(q)
                names = []
                n = h.opt_list_meta_context(lambda name: names.append(name) or 0)
                eq(n, len(names), "opt_list_meta_context count")
                return names

            names = listed("base:")
            check("base:allocation" in names, f"LIST_META_CONTEXT base: returned {names}")
            check(all(x.startswith("base:") for x in names), f"LIST_META_CONTEXT base: returned {names}")
            check("base:allocation" in listed(), "LIST_META_CONTEXT with no query must list every context")
            eq(listed("base:allocation"), ["base:allocation"], "LIST_META_CONTEXT base:allocation")
            eq(listed("nosuch:thing"), [], "LIST_META_CONTEXT of an unknown namespace")

            h.set_export_name("ro")
            h.opt_info()
            eq(h.get_size(), os.path.getsize(path), "NBD_OPT_INFO size of ro")
            eq(h.is_read_only(), True, "NBD_OPT_INFO read-only of ro")

            h.set_export_name("rw")
            h.clear_meta_contexts()
            h.add_meta_context("base:allocation")
            h.opt_go()
            check(not h.aio_is_negotiating(), "transmission phase after opt_go")
            check(h.can_meta_context("base:allocation"), "base:allocation after opt_go")
            eq(h.is_read_only(), False, "rw is writable")
            eq(h.pread(4096, 1048576), file_bytes(path, 1048576, 4096), "read after opt_go")

            # Last, as it is the least essential: NBD_REP_SERVER carries the human-readable description after the name
            # (what nbdinfo --list shows; qemu-nbd and nbdkit send it).
            eq(sorted(exports), [("ro", "read-only disk"), ("rw", "read-write disk")], "NBD_OPT_LIST (name, description)")
            """, f.Server.Uri("rw"), f.RoPath);
    }

    [Fact]
    public async Task FastZero_OnFileExport_Succeeds()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;

        await PyNbd.RunAsync(dir, """
            uri, path = sys.argv[1], sys.argv[2]
            h = connect(uri)
            check(h.can_zero(), "NBD_FLAG_SEND_WRITE_ZEROES")
            check(h.can_fast_zero(), "a raw file on ext4 zeroes fast (fallocate): NBD_FLAG_SEND_FAST_ZERO must be advertised")
            h.zero(131072, 1048576, nbd.CMD_FLAG_FAST_ZERO)
            eq(h.pread(131072, 1048576), bytes(131072), "read after fast zero")
            h.zero(65536, 0, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE)
            eq(h.pread(65536, 0), bytes(65536), "read after fast zero with NO_HOLE")
            h.flush()
            eq(file_bytes(path, 1048576, 131072), bytes(131072), "backing file after fast zero")
            eq(file_bytes(path, 0, 65536), bytes(65536), "backing file after fast zero with NO_HOLE")
            eq(h.pread(262144, 3 * 1048576), file_bytes(path, 3 * 1048576, 262144), "untouched data")
            """, f.Server.Uri("rw"), f.RwPath);
    }

    [Fact]
    public async Task FastZero_OnDeviceThatCannotZeroFast_IsRefusedWithEnotsup()
    {
        using var dir = new TempDir();
        await using var server = new EngineServer(dir);
        var advertised = server.Own(new SlowZeroDevice(new MemoryBlockDevice(Size), advertiseFastZero: true));
        var notAdvertised = server.Own(new SlowZeroDevice(new MemoryBlockDevice(Size), advertiseFastZero: false));
        server.Export("adv", advertised).Export("noadv", notAdvertised).Listen();

        var result = await PyNbd.RunAsync(dir, """
            uri_adv, uri_noadv = sys.argv[1], sys.argv[2]

            # The device claims FastZero but refuses this request (ENOTSUP): the server must pass NBD_ENOTSUP on.
            h = connect(uri_adv)
            check(h.can_zero(), "write zeroes advertised")
            check(h.can_fast_zero(), "device reports FastZero: NBD_FLAG_SEND_FAST_ZERO expected")
            h.pwrite(b"\x5a" * 65536, 0)
            expect_errno(lambda: h.zero(65536, 0, nbd.CMD_FLAG_FAST_ZERO), errno.ENOTSUP, "fast zero refused by the device")
            eq(h.pread(16, 65536 * 2), bytes(16), "connection usable after ENOTSUP")
            h.zero(65536, 0)
            eq(h.pread(65536, 0), bytes(65536), "plain zero after ENOTSUP")

            # The device lacks FastZero: the server must either not advertise it, or refuse each request with ENOTSUP.
            h2 = connect(uri_noadv)
            check(h2.can_zero(), "write zeroes advertised")
            if h2.can_fast_zero():
                print("NOADV: SEND_FAST_ZERO advertised")
                expect_errno(lambda: h2.zero(65536, 0, nbd.CMD_FLAG_FAST_ZERO), errno.ENOTSUP, "fast zero on a device without FastZero")
            else:
                print("NOADV: SEND_FAST_ZERO not advertised")
            h2.pwrite(b"\x5a" * 65536, 0)
            h2.zero(65536, 0)
            eq(h2.pread(65536, 0), bytes(65536), "plain zero")
            """, server.Uri("adv"), server.Uri("noadv"));

        output.WriteLine(result.Stdout);
        output.WriteLine($"FastOnly requests reaching the devices: adv {advertised.FastOnlyRequests}, noadv {notAdvertised.FastOnlyRequests}");
        Assert.True(advertised.FastOnlyRequests >= 1, "the fast-zero request never reached the device with FastOnly");
        if (result.Stdout.Contains("NOADV: SEND_FAST_ZERO not advertised", StringComparison.Ordinal))
        {
            Assert.Equal(0, notAdvertised.FastOnlyRequests);
        }
    }

    [Fact]
    public async Task OutOfRange_EinvalForReads_EnospcForWrites_ConnectionStaysUsable()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;
        var before = Sha256(f.RwPath);

        await PyNbd.RunAsync(dir, """
            uri, path = sys.argv[1], sys.argv[2]
            h = connect(uri)
            h.set_strict_mode(0)
            size = h.get_size()
            expect_errno(lambda: h.pread(512, size), errno.EINVAL, "pread at the end")
            expect_errno(lambda: h.pread(1024, size - 512), errno.EINVAL, "pread straddling the end")
            expect_errno(lambda: h.pread(512, size, nbd.CMD_FLAG_DF), errno.EINVAL, "DF pread at the end")
            eq(h.pread(4096, 1048576), file_bytes(path, 1048576, 4096), "read after EINVAL")
            expect_errno(lambda: h.pwrite(b"x" * 512, size), errno.ENOSPC, "pwrite at the end")
            expect_errno(lambda: h.pwrite(b"x" * 1024, size - 512), errno.ENOSPC, "pwrite straddling the end")
            expect_errno(lambda: h.zero(1024, size - 512), errno.ENOSPC, "zero straddling the end")
            expect_errno(lambda: block_status(h, size, 512), errno.EINVAL, "block status past the end")
            eq(h.pread(4096, 1048576), file_bytes(path, 1048576, 4096), "read after ENOSPC")
            eq(h.pread(512, size - 512), file_bytes(path, size - 512, 512), "last sector")
            eq(h.get_size(), size, "size unchanged")
            h.shutdown()
            eq(os.path.getsize(path), size, "backing file size unchanged")
            """, f.Server.Uri("rw"), f.RwPath);

        Assert.Equal(before, Sha256(f.RwPath));
    }

    [Fact]
    public async Task ReadOnlyExport_RefusesWritesTrimAndZeroWithEperm()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;
        var before = Sha256(f.RoPath);

        await PyNbd.RunAsync(dir, """
            uri, path = sys.argv[1], sys.argv[2]
            h = connect(uri)
            eq(h.is_read_only(), True, "read-only flag")
            h.set_strict_mode(0)
            expect_errno(lambda: h.pwrite(b"x" * 4096, 0), errno.EPERM, "pwrite on a read-only export")
            expect_errno(lambda: h.pwrite(b"x" * 4096, 0, nbd.CMD_FLAG_FUA), errno.EPERM, "FUA pwrite on a read-only export")
            expect_errno(lambda: h.trim(65536, 0), errno.EPERM, "trim on a read-only export")
            expect_errno(lambda: h.zero(65536, 0), errno.EPERM, "zero on a read-only export")
            eq(h.pread(65536, 0), file_bytes(path, 0, 65536), "read after EPERM")
            if h.can_flush():
                h.flush()
            h.shutdown()
            """, f.Server.Uri("ro"), f.RoPath);

        Assert.Equal(before, Sha256(f.RoPath));
    }

    [Fact]
    public async Task BlockSizeConstraints_AreSane()
    {
        using var dir = new TempDir();
        var f = Start(dir);
        await using var _ = f.Server;

        var result = await PyNbd.RunAsync(dir, """
            h = nbd.NBD()
            h.connect_uri(sys.argv[1])
            print("sizes", h.get_block_size(nbd.SIZE_MINIMUM), h.get_block_size(nbd.SIZE_PREFERRED), h.get_block_size(nbd.SIZE_MAXIMUM))
            """, f.Server.Uri("rw"));
        var line = result.Stdout.Split('\n').Single(l => l.StartsWith("sizes ", StringComparison.Ordinal));
        Assert.True(line == "sizes 1 4096 33554432",
            $"NBD_INFO_BLOCK_SIZE (min preferred max): expected \"sizes 1 4096 33554432\" for a buffered file " +
            $"(device: min {f.Rw.MinimumBlockSize}, preferred {f.Rw.PreferredBlockSize}), got \"{line}\"");
    }
}
