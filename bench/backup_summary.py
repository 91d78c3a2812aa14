#!/usr/bin/python3
"""Render the Markdown summary of a bench/backup-compare.sh run.

    /usr/bin/python3 bench/backup_summary.py OUT_DIR

Reads OUT_DIR/raw.tsv (one row per timed run), OUT_DIR/status.tsv and
OUT_DIR/env.txt and prints Markdown tables of medians, Engine/peer ratios and
the issue's goals. Can be re-run on an old results directory.
"""

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_tables import fmt, median, ratio, read_env, read_tsv, values  # noqa: E402

FULL = [
    ("engine", "`engine backup --disk hd0=NBD-URI` (fresh repo)"),
    ("engine-file", "`engine backup --disk hd0=IMG` (same image as a file)"),
    ("nbdcopy", "`nbdcopy NBD-URI null:` (ceiling)"),
    ("borg", "`borg create --read-special` (fresh `borg init -e none` repo)"),
    ("disk-write", "`dd conv=fdatasync` of SIZE/2 bytes (the disk's share)"),
    ("disk-direct", "`dd oflag=direct bs=4M` of SIZE/2 bytes + `sync -f` (the disk's share, direct)"),
]
RESTORE = [
    ("convert-raw", "`qemu-img convert` from the original raw file"),
    ("convert-fuse", "`qemu-img convert` from `engine export --fuse` (nbdfuse)"),
    ("convert-nbd", "`qemu-img convert` from `engine export`'s NBD socket"),
    ("engine-restore", "`engine restore --to FILE`"),
]


def goal(value, target, at_least=True):
    if value is None:
        return "n/a"
    met = value >= target if at_least else value <= target
    return "met" if met else "**missed**"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    raw = read_tsv(os.path.join(out, "raw.tsv"))
    status = {r["case"]: r["status"] for r in read_tsv(os.path.join(out, "status.tsv"))}
    env, notes, checks = read_env(out)

    def vals(case, client, col):
        return values(raw, case, client, col)

    def med(case, client, col):
        return median(raw, case, client, col)

    def gbps(case, client, col="wall_s"):
        # bytes / seconds per run, then the median
        v = [int(r["bytes"]) / float(r[col]) / 1e9 for r in raw
             if r["case"] == case and r["client"] == client and r.get(col, "") not in ("", "0")]
        return statistics.median(v) if v else None

    def n(case, client):
        return sum(1 for r in raw if r["case"] == case and r["client"] == client)

    size = int(env.get("size_bytes", "0") or 0)
    lines = []
    la0, la1 = env.get("loadavg at start"), env.get("loadavg at end")
    if la0 or la1:
        lines.append(f"Load average (1/5/15 min) at start: {' '.join((la0 or '?').split()[:3])}; at end: "
                     f"{' '.join((la1 or '?').split()[:3])} ({env.get('cpus', '?').split(' x')[0]} cores: noisy figures).")
        lines.append("")

    full = [(c, d) for c, d in FULL if n("full", c)]
    if full:
        lines.append(f"**Full backup** of a {size / 2**30:g} GiB raw image, half random and half written zeros in "
                     "alternating 4 MiB blocks, medians over the runs. GB/s = image size / wall time of the whole "
                     "process / 1e9; CPU = user + sys of the process (`/usr/bin/time`); sync = a `sync` timed after "
                     "the run (not in the wall time).")
        lines.append("")
        lines.append("| client | runs | wall s | GB/s | CPU s (user / sys) | sync s | in-process s | Engine/this |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        e = gbps("full", "engine")
        for c, d in full:
            u, s_ = med("full", c, "user_s"), med("full", c, "sys_s")
            r = "–" if c == "engine" else fmt(ratio(e, gbps("full", c)), ".2f") + "×"
            lines.append(f"| {d} | {n('full', c)} | {fmt(med('full', c, 'wall_s'), '.2f')} | {fmt(gbps('full', c), '.3f')} "
                         f"| {fmt(med('full', c, 'cpu_s'), '.2f')} ({fmt(u, '.2f')} / {fmt(s_, '.2f')}) "
                         f"| {fmt(med('full', c, 'flush_s'), '.2f')} | {fmt(med('full', c, 'inproc_s'), '.2f')} | {r} |")
        lines.append("")
        goals = []
        if n("full", "engine") and n("full", "nbdcopy"):
            x = ratio(e, gbps("full", "nbdcopy"))
            goals.append(f"| Engine / nbdcopy throughput | ≥ 0.70× | {fmt(x, '.2f')}× | {goal(x, 0.7)} |")
        if n("full", "engine") and n("full", "borg"):
            x = ratio(e, gbps("full", "borg"))
            goals.append(f"| Engine / borg throughput | ≥ 3× | {fmt(x, '.2f')}× | {goal(x, 3)} |")
        if goals:
            lines.append("| goal (issue 4) | target | measured | |")
            lines.append("|---|---:|---:|---|")
            lines.extend(goals)
            lines.append("")

    if n("incremental", "incr") or n("incremental", "incr-clustered"):
        tf, pf = med("incremental", "full", "wall_s"), med("incremental", "full", "inproc_s")
        lines.append(f"**Incremental backup** ({env.get('dirty', '?')} of the disk rewritten after the base backup, in a "
                     "qcow2 copy exported by `qemu-nbd -B b0`); dirty bytes = the sum of "
                     "`nbdinfo --map=qemu:dirty-bitmap:b0`. Full = a backup of the same export with `#bitmap=b0` into a "
                     "fresh repository; incremental = into a copy of the base repository (`cp -a`, not timed).")
        lines.append("")
        lines.append("| backup | dirty bytes | runs | wall s | in-process s | CPU s (user / sys) | bytes read "
                     "| read / dirty | bytes stored (new) | time / full (wall) | time / full (in-process) |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows = [("full", "full (`#bitmap=b0`, fresh repo)", None),
                ("incr", "incremental, 64 KiB extents scattered", "dirty_bytes_scattered"),
                ("incr-clustered", "incremental, 4 MiB chunk-aligned extents", "dirty_bytes_clustered")]
        goals = []
        for c, d, key in rows:
            if not n("incremental", c):
                continue
            dirty = int(env.get(key, "0") or 0) if key else None
            u, s_ = med("incremental", c, "user_s"), med("incremental", c, "sys_s")
            br, bs = med("incremental", c, "bytes_read"), med("incremental", c, "bytes_stored")
            w, p = med("incremental", c, "wall_s"), med("incremental", c, "inproc_s")
            rr = ratio(br, dirty) if dirty else None
            lines.append(f"| {d} | {fmt(dirty, 'd') if dirty else '–'} | {n('incremental', c)} | {fmt(w, '.2f')} "
                         f"| {fmt(p, '.2f')} | {fmt(med('incremental', c, 'cpu_s'), '.2f')} ({fmt(u, '.2f')} / {fmt(s_, '.2f')}) "
                         f"| {fmt(br, '.0f')} | {fmt(rr, '.3f') + '×' if rr else '–'} | {fmt(bs, '.0f')} "
                         f"| {'–' if c == 'full' else fmt(ratio(w, tf), '.3f')} | {'–' if c == 'full' else fmt(ratio(p, pf), '.3f')} |")
            if dirty:
                goals.append(f"| {d}: bytes read / dirty bytes | ≤ 1.10× | {fmt(rr, '.3f')}× | {goal(rr, 1.1, at_least=False)} |")
                goals.append(f"| {d}: time / full (in-process) | ≈ dirty share {fmt(ratio(dirty, size), '.3f')} "
                             f"| {fmt(ratio(p, pf), '.3f')} | |")
        lines.append("")
        lines.append("| measure | target | measured | |")
        lines.append("|---|---:|---:|---|")
        lines.extend(goals)
        lines.append("")

    restore = [(c, d) for c, d in RESTORE if n("restore", c)]
    if restore:
        lines.append(f"**Restore** of the {size / 2**30:g} GiB snapshot into a new raw file in the same directory. "
                     "GB/s = image size / wall time; + sync = wall time plus the `sync` after it (the output's "
                     "writeback).")
        lines.append("")
        lines.append("| path | runs | wall s | GB/s | + sync s | CPU s | time / convert-raw | time + sync / convert-raw + sync |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        base_w = med("restore", "convert-raw", "wall_s")

        def total(c):
            v = [float(r["wall_s"]) + float(r["flush_s"]) for r in raw if r["case"] == "restore" and r["client"] == c]
            return statistics.median(v) if v else None

        base_t = total("convert-raw")
        for c, d in restore:
            w = med("restore", c, "wall_s")
            lines.append(f"| {d} | {n('restore', c)} | {fmt(w, '.2f')} | {fmt(gbps('restore', c), '.3f')} "
                         f"| {fmt(total(c), '.2f')} | {fmt(med('restore', c, 'cpu_s'), '.2f')} "
                         f"| {fmt(ratio(w, base_w), '.2f')}× | {fmt(ratio(total(c), base_t), '.2f')}× |")
        lines.append("")

    if checks:
        lines.append("Checks: " + "; ".join(checks) + ".")
        lines.append("")
    for note in notes:
        lines.append(f"- note: {note}")
    failed = {c: s for c, s in status.items() if s != "ok"}
    for c, s in failed.items():
        lines.append(f"- **{c} FAILED**: {s}")
    print("\n".join(lines).rstrip())


if __name__ == "__main__":
    main()
