using System.Text.Json;

namespace Engine.Interop.Tests.Infrastructure;

/// <summary>
/// Runs Python scripts against the real libnbd Python binding (python3-libnbd), always with /usr/bin/python3 (another
/// python3 shadows it on PATH). A script fails by raising; it must reach its last line, which prints a marker.
/// </summary>
internal static class PyNbd
{
    private const string Marker = "SCRIPT-COMPLETED";

    private const string Prelude = """
        import errno, hashlib, json, os, sys
        import nbd

        def check(cond, what):
            if not cond:
                raise AssertionError(what)

        def eq(got, expected, what):
            if got != expected:
                raise AssertionError(f"{what}: expected {expected!r}, got {got!r}")

        def expect_errno(fn, errnum, what):
            try:
                fn()
            except nbd.Error as e:
                if e.errnum != errnum:
                    raise AssertionError(f"{what}: expected {errno.errorcode[errnum]}, got errnum={e.errnum} ({e.errno}): {e.string}")
                print(f"{what}: {errno.errorcode[errnum]} as expected ({e.string})")
                return
            raise AssertionError(f"{what}: expected {errno.errorcode[errnum]}, but the command succeeded")

        def connect(uri, structured=True):
            h = nbd.NBD()
            h.set_request_structured_replies(structured)
            h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
            h.connect_uri(uri)
            return h

        def file_bytes(path, offset, count):
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(count)

        def block_status(h, offset, length, flags=0):
            # one NBD_CMD_BLOCK_STATUS; returns [(offset, length, flags)] of base:allocation
            out = []
            def cb(ctx, off, entries, err):
                if ctx == nbd.CONTEXT_BASE_ALLOCATION:
                    pos = off
                    for i in range(0, len(entries), 2):
                        out.append((pos, entries[i], entries[i + 1]))
                        pos += entries[i]
                return 0
            h.block_status(length, offset, cb, flags)
            check(len(out) >= 1, f"block_status({offset}, {length}) returned no extent")
            eq(out[0][0], offset, "first extent offset")
            total = sum(e[1] for e in out)
            check(0 < total <= length, f"block_status({offset}, {length}) extents cover {total} bytes: {out}")
            return out

        def merge(extents):
            res = []
            for off, length, fl in extents:
                if res and res[-1][2] == fl and res[-1][0] + res[-1][1] == off:
                    res[-1] = (res[-1][0], res[-1][1] + length, fl)
                else:
                    res.append((off, length, fl))
            return res

        def full_map(h):
            size = h.get_size()
            at = 0
            res = []
            while at < size:
                ext = block_status(h, at, min(size - at, 1 << 30))
                res += ext
                at = ext[-1][0] + ext[-1][1]
            return merge(res)

        def layout(arg):
            return [tuple(x) for x in json.loads(arg)]

        """;

    private static int _counter;

    /// <summary>JSON for a layout argument: [[offset, length, base:allocation flags], ...].</summary>
    public static string LayoutArg(IEnumerable<Run> runs) =>
        JsonSerializer.Serialize(runs.Select(r => new[] { r.Offset, r.Length, r.NbdType }));

    public static async Task<ToolResult> RunAsync(TempDir dir, string script, params string[] args)
    {
        Tool.Require("python3");
        var path = dir[$"t{Interlocked.Increment(ref _counter)}.py"];
        await File.WriteAllTextAsync(path, Prelude + script.Trim() + $"\nprint('{Marker}')\n");
        var result = await Tool.RunAsync("python3", [path, .. args], Tool.DefaultTimeout);
        if (result.Stderr.Contains("No module named 'nbd'", StringComparison.Ordinal))
        {
            Assert.Fail("the libnbd Python binding is missing: install the Debian package python3-libnbd");
        }

        result.AssertSuccess();
        Assert.True(result.Stdout.Contains(Marker, StringComparison.Ordinal), $"script did not complete\n{result}");
        return result;
    }
}
