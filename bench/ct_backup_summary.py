#!/usr/bin/python3
"""Render the Markdown summary of a bench/ct-backup-compare.sh run.

    /usr/bin/python3 bench/ct_backup_summary.py OUT_DIR

Reads OUT_DIR/raw.tsv (one row per timed run), OUT_DIR/status.tsv and
OUT_DIR/env.txt and prints Markdown tables of medians and Engine/peer ratios.
Can be re-run on an old results directory.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_tables import fmt, median, ratio, read_env, read_tsv, values  # noqa: E402

CLIENTS = [
    ("backup", "engine-full", "`engine backup-ct --repo FRESH --vmid 900 --dir SRC --json` (fresh repository)"),
    ("backup", "engine-again", "the same into a repository already holding a backup of SRC (unchanged tree; runs before change detection)"),
    ("unchanged", "engine", "the same into a repository already holding a backup of SRC: unchanged files not read"),
    ("unchanged", "engine-full-read", "the same with `--full-read`: every file read again"),
    ("backup", "tar-zstd", "vzdump: `tar cpf - --totals FLAGS -C SRC . \\| zstd --rsyncable --threads=N > OUT.tar.zst`"),
    ("restore", "engine", "`engine restore-ct --repo R --snapshot ID --to FRESHDIR --json`"),
    ("restore", "tar", "pct restore: `tar xpf - --zstd --totals FLAGS -C FRESHDIR --skip-old-files ... < OUT.tar.zst`"),
]
RATIOS = [
    ("full backup", ("backup", "engine-full"), ("backup", "tar-zstd")),
    ("backup of the unchanged tree", ("backup", "engine-again"), ("backup", "tar-zstd")),
    ("backup of the unchanged tree", ("unchanged", "engine"), ("backup", "tar-zstd")),
    ("backup of the unchanged tree, --full-read", ("unchanged", "engine-full-read"), ("backup", "tar-zstd")),
    ("restore", ("restore", "engine"), ("restore", "tar")),
]
MIB = 1024 * 1024


def size(b):
    if b is None:
        return "n/a"
    return f"{b / MIB:.1f} MiB" if b >= MIB / 10 else f"{b / 1024:.1f} KiB" if b else "0 B"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    raw = read_tsv(os.path.join(out, "raw.tsv"))
    status = {r["client"]: r["status"] for r in read_tsv(os.path.join(out, "status.tsv"))}
    env, notes, checks = read_env(out)

    def vals(case, client, col):
        return values(raw, case, client, col)

    def med(case, client, col):
        return median(raw, case, client, col)

    def span(case, client, col):
        v = vals(case, client, col)
        return f"{min(v):.2f}–{max(v):.2f}" if v else "n/a"

    lines = []
    lines.append(f"Source: {env.get('src', '?')}: {env.get('src_entries', '?')} entries, {env.get('src_files', '?')} files, "
                 f"{fmt(int(env['src_bytes']) / MIB if env.get('src_bytes') else None, '.1f')} MiB. "
                 f"Page cache: {env.get('page cache', '?')}. vzdump zstd threads: {env.get('zstd_threads', '?')}.")
    la0, la1 = env.get("loadavg at start"), env.get("loadavg at end")
    loads = [float(r["loadavg1"]) for r in raw if r.get("loadavg1", "") != ""]
    lines.append("")
    lines.append(f"Load average (1/5/15 min) at start: {' '.join((la0 or '?').split()[:3])}; at end: "
                 f"{' '.join((la1 or '?').split()[:3])}; 1-min load before the timed runs: "
                 f"{fmt(min(loads) if loads else None, '.2f')}–{fmt(max(loads) if loads else None, '.2f')} "
                 f"({env.get('cpus', '?').split(' x')[0]} cores).")
    lines.append("")
    lines.append("| case | client | command | runs | wall s, median (min–max) | CPU s user | CPU s sys | CPU s total | stored | on disk |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for case, client, desc in CLIENTS:
        n = len(vals(case, client, "wall_s"))
        if not n and status.get(f"{case}/{client}", "ok") == "ok":
            continue
        stored_text = "—" if case == "restore" else size(med(case, client, "bytes_stored"))
        wall = med(case, client, "wall_s")
        lines.append(f"| {case} | {client} | {desc} | {n} | {fmt(wall, '.2f')} ({span(case, client, 'wall_s')}) | "
                     f"{fmt(med(case, client, 'user_s'), '.2f')} | {fmt(med(case, client, 'sys_s'), '.2f')} | "
                     f"{fmt(med(case, client, 'cpu_s'), '.2f')} | {stored_text} | {size(med(case, client, 'on_disk_bytes'))} |")
    lines.append("")
    lines.append("Engine/peer ratios of the medians (below 1 favours Engine):")
    lines.append("")
    lines.append("| comparison | Engine | peer | wall | CPU | stored |")
    lines.append("|---|---|---|---|---|---|")
    for name, (ec, el), (pc, pl) in RATIOS:
        if med(ec, el, "wall_s") is None or med(pc, pl, "wall_s") is None:
            continue
        stored = ratio(med(ec, el, "bytes_stored"), med(pc, pl, "bytes_stored")) if ec != "restore" else None
        lines.append(f"| {name} | {el} | {pl} | {fmt(ratio(med(ec, el, 'wall_s'), med(pc, pl, 'wall_s')), '.2f')} | "
                     f"{fmt(ratio(med(ec, el, 'cpu_s'), med(pc, pl, 'cpu_s')), '.2f')} | "
                     f"{'—' if ec == 'restore' else fmt(stored, '.3f')} |")
    lines.append("")
    lines.append("Wall time includes a `sync -f` of the output's filesystem after the command; CPU is user + sys of "
                 "the command and its children (`/usr/bin/time`). Stored: Engine's `bytes_stored` (compressed "
                 "chunk bytes written) of its `--json`; tar-zstd: the archive's size. On disk: `du -sb` of the "
                 "fresh repository (chunks, catalog, indices), what the backup added to the repository "
                 "(engine-again, unchanged), the archive, the restored tree.")
    for key in ("base backup", "base archive"):
        if key in env:
            lines.append(f"{key[0].upper() + key[1:]}: {env[key]}.")
    for c in checks:
        lines.append(f"- {c}")
    failed = {k: v for k, v in status.items() if v != "ok"}
    for k, v in failed.items():
        lines.append(f"- **{k} failed**: {v}")
    for n in notes:
        lines.append(f"- note: {n}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
