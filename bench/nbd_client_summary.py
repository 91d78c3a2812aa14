#!/usr/bin/python3
"""Render the Markdown summary of a bench/nbd-client-compare.sh run.

    /usr/bin/python3 bench/nbd_client_summary.py OUT_DIR

Reads OUT_DIR/raw.tsv (one row per timed run), OUT_DIR/cases.tsv (what each
case copies), OUT_DIR/status.tsv (cases that failed) and OUT_DIR/env.txt (load
average) and prints Markdown tables of medians and Engine/peer ratios.
Can be re-run on an old results directory.
"""

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_tables import fmt, median, ratio, read_env, read_tsv, values  # noqa: E402

COPY_CASES = ["file-null", "file-file", "sparse-null", "sparse-file"]


def gib(n):
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n / 2**20:g} MiB"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    raw = read_tsv(os.path.join(out, "raw.tsv"))
    cases = {r["case"]: r for r in read_tsv(os.path.join(out, "cases.tsv"))}
    status = {r["case"]: r["status"] for r in read_tsv(os.path.join(out, "status.tsv"))}
    env, notes, _ = read_env(out)

    def vals(case, client, col):
        return values(raw, case, client, col)

    def med(case, client, col):
        return median(raw, case, client, col)

    def nruns(case, client):
        return sum(1 for r in raw if r["case"] == case and r["client"] == client)

    def inproc_gbps(case, client, col):
        # bytes / in-process seconds, per run, then the median
        v = [int(r["bytes"]) / float(r[col]) / 1e9 for r in raw
             if r["case"] == case and r["client"] == client and r.get(col, "") not in ("", "0")]
        return statistics.median(v) if v else None

    lines = []
    la0, la1 = env.get("loadavg at start"), env.get("loadavg at end")
    if la0 or la1:
        lines.append(f"Load average (1/5/15 min) at start: {' '.join((la0 or '?').split()[:3])}; "
                     f"at end: {' '.join((la1 or '?').split()[:3])} (2-core machine: noisy figures).")
        lines.append("")

    copy_cases = [c for c in cases if c in COPY_CASES] or [c for c in COPY_CASES if nruns(c, "engine") or nruns(c, "nbdcopy")]
    if copy_cases:
        eo = env.get("engine copy options", "defaults").split(" (")[0]
        no = env.get("nbdcopy options", "defaults")
        opts = "default options" if eo == no == "defaults" else f"options: engine {eo}, nbdcopy {no}"
        lines.append(f"`engine copy URI DST` vs `nbdcopy URI DST`, {opts}, medians over the runs. "
                     "GB/s = source (virtual) size / wall time / 1e9; wall time and CPU (user+sys, "
                     "`/usr/bin/time`) are of the whole client process, start-up and handshake included.")
        lines.append("")
        lines.append("| case | source → target | bytes | runs e/n | engine wall s | nbdcopy wall s "
                     "| engine GB/s | nbdcopy GB/s | engine CPU s | nbdcopy CPU s "
                     "| throughput engine/nbdcopy | CPU engine/nbdcopy | engine GB/s in-process |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in copy_cases:
            info = cases.get(c, {})
            desc = f"{info.get('source', '?')} → {info.get('target', '?')}"
            nbytes = int(info["bytes"]) if info.get("bytes") else None
            ne, nn = nruns(c, "engine"), nruns(c, "nbdcopy")
            ew, nw = med(c, "engine", "wall_s"), med(c, "nbdcopy", "wall_s")
            et, nt = med(c, "engine", "gbps"), med(c, "nbdcopy", "gbps")
            ec, nc = med(c, "engine", "cpu_s"), med(c, "nbdcopy", "cpu_s")
            lines.append(
                f"| {c} | {desc} | {gib(nbytes) if nbytes else '?'} | {ne}/{nn} | {fmt(ew, '.3f')} | {fmt(nw, '.3f')} "
                f"| {fmt(et, '.2f')} | {fmt(nt, '.2f')} | {fmt(ec, '.2f')} | {fmt(nc, '.2f')} "
                f"| **{fmt(ratio(et, nt), '.2f')}** | **{fmt(ratio(ec, nc), '.2f')}** "
                f"| {fmt(inproc_gbps(c, 'engine', 'inproc_s'), '.2f')} |")
        lines.append("")
        lines.append("Throughput ratio > 1: engine faster; CPU ratio < 1: engine used less CPU for the same copy. "
                     "\"engine GB/s in-process\" = bytes / the `seconds` engine reports in `--json` "
                     "(the copy itself, after start-up and connect).")
        if any(c.endswith("-file") for c in copy_cases):
            lines.append("*-file targets: a new file in TARGET_DIR per run (deleted after it; the script drops "
                         "nothing from the page cache), so the writes go to the page cache and the kernel may "
                         "start background writeback during a run (vm.dirty_* in env.txt). The clients differ "
                         "here: engine copy ends with one fdatasync of the target; nbdcopy 1.14 (without "
                         "`--flush`) does not, but pushes its writes out as it goes (strace shows "
                         "sync_file_range and posix_fadvise(DONTNEED) per request). "
                         "`NBDCOPY_ARGS=--flush` makes it end with a flush too.")
        st = vals("startup", "engine", "wall_s")
        if st:
            lines.append(f"For scale: `engine --version` takes {statistics.median(st):.3f} s wall "
                         f"(median of {len(st)}; process start-up), included in every engine wall time above.")

    if "dirty" in cases or nruns("dirty", "engine") or nruns("dirty", "dirty_copy"):
        info = cases.get("dirty", {})
        lines.append("")
        lines.append(f"Dirty-only copy: {info.get('source', 'qemu-nbd -B b0')}; "
                     f"`engine copy --dirty-bitmap b0 URI null:` vs "
                     f"`/usr/bin/python3 dirty_copy.py URI qemu:dirty-bitmap:b0 /dev/null`; medians. "
                     f"Dirty GB/s = dirty bytes / time / 1e9.")
        lines.append("")
        lines.append("| client | runs | dirty bytes | wall s | dirty GB/s (wall) | CPU s "
                     "| block status + copy s | dirty GB/s (bs+copy) | copy phase s | dirty GB/s (copy phase) |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows = {}
        for client, label in (("engine", "engine copy --dirty-bitmap"), ("dirty_copy", "dirty_copy.py")):
            n = nruns("dirty", client)
            r = {
                "wall": med("dirty", client, "wall_s"),
                "gbps": med("dirty", client, "gbps"),
                "cpu": med("dirty", client, "cpu_s"),
                "inproc": med("dirty", client, "inproc_s"),
                "inproc_gbps": inproc_gbps("dirty", client, "inproc_s"),
                "copy": med("dirty", client, "copy_s"),
                "copy_gbps": inproc_gbps("dirty", client, "copy_s"),
            }
            rows[client] = r
            db = [r_["bytes"] for r_ in raw if r_["case"] == "dirty" and r_["client"] == client]
            lines.append(f"| {label} | {n} | {db[0] if db else info.get('bytes', '?')} | {fmt(r['wall'], '.3f')} "
                         f"| {fmt(r['gbps'], '.3f')} | {fmt(r['cpu'], '.2f')} | {fmt(r['inproc'], '.3f')} "
                         f"| {fmt(r['inproc_gbps'], '.3f')} | {fmt(r['copy'], '.3f')} | {fmt(r['copy_gbps'], '.3f')} |")
        e, p = rows["engine"], rows["dirty_copy"]
        lines.append("")
        lines.append("Ratios engine/dirty_copy.py (dirty GB/s; > 1: engine faster):")
        lines.append("")
        lines.append(f"- by total wall time (process start to exit, both including interpreter/runtime "
                     f"start-up, connect and block status): **{fmt(ratio(e['gbps'], p['gbps']), '.2f')}**")
        lines.append(f"- by in-process block status + copy (engine's `--json` `seconds`; dirty_copy.py's "
                     f"block_status + copy; both after connect): **{fmt(ratio(e['inproc_gbps'], p['inproc_gbps']), '.2f')}**")
        lines.append(f"- engine's block status + copy against dirty_copy.py's copy phase alone (engine does "
                     f"not time its phases separately, so this one is tilted against engine): "
                     f"**{fmt(ratio(e['inproc_gbps'], p['copy_gbps']), '.2f')}**")
        lines.append(f"- CPU (user+sys) engine/dirty_copy.py: **{fmt(ratio(e['cpu'], p['cpu']), '.2f')}** (< 1: engine used less)")

    failed = {c: s for c, s in status.items() if s != "ok"}
    if failed:
        lines.append("")
        lines.append("Failures:")
        lines.append("")
        for c, s in failed.items():
            lines.append(f"- **{c}**: {s}")
        lines.append("")
        lines.append("(A client that failed part-way keeps the rows it completed.)")
    if notes:
        lines.append("")
        lines.append("Notes:")
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    checks = [f"- {k}: {v}" for k, v in env.items() if k.startswith("check, ")]
    if checks:
        lines.append("")
        lines.append("Correctness checks (once per source, outside the timed runs):")
        lines.append("")
        lines.extend(checks)

    print("\n".join(lines))


if __name__ == "__main__":
    main()
