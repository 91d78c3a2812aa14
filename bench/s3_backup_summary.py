#!/usr/bin/env python3
"""Markdown tables of bench/s3-backup-compare.sh's OUT/raw.tsv: medians per case and client, with the ratios issue 13
asks for (Engine vs restic into the same gateway; an incremental vs a full). Usage: s3_backup_summary.py OUT"""
import csv
import statistics
import sys
from collections import defaultdict

out = sys.argv[1]
rows = defaultdict(list)
with open(f"{out}/raw.tsv", newline="") as f:
    for r in csv.DictReader(f, delimiter="\t"):
        rows[(r["case"], r["client"])].append(r)


def med(case, client, field):
    values = [float(r[field]) for r in rows.get((case, client), []) if r.get(field) not in (None, "")]
    return statistics.median(values) if values else None


def fmt(v, spec=".2f"):
    return "–" if v is None else format(v, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


for case in ("full", "incremental", "restore"):
    clients = [cl for (c, cl) in rows if c == case]
    if not clients:
        continue
    print(f"### {case}\n")
    print("| client | runs | wall s (median) | GB/s of the disk | client CPU s | gateway CPU s | export CPU s | bytes read | bytes new |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cl in clients:
        n = len(rows[(case, cl)])
        wall = med(case, cl, "wall_s")
        size = med(case, cl, "bytes")
        print(f"| {cl} | {n} | {fmt(wall)} | {fmt(ratio(size, wall) and ratio(size, wall) / 1e9, '.3f')} | "
              f"{fmt(med(case, cl, 'cpu_s'))} | {fmt(med(case, cl, 'gw_cpu_s'))} | {fmt(med(case, cl, 'export_cpu_s'))} | "
              f"{fmt(med(case, cl, 'bytes_read'), '.0f')} | {fmt(med(case, cl, 'bytes_stored'), '.0f')} |")
    print()
    if case == "full":
        speed = ratio(med(case, "restic-s3", "wall_s"), med(case, "engine-s3", "wall_s"))
        cpu = ratio(med(case, "engine-s3", "cpu_s"), med(case, "restic-s3", "cpu_s"))
        local = ratio(med(case, "engine-s3", "wall_s"), med(case, "engine-local", "wall_s"))
        print(f"- Engine into S3 is **{fmt(speed)}×** restic's speed (goal ≥ 2.5×) at **{fmt(cpu)}×** its client CPU "
              f"(goal ≤ 0.4×); Engine into S3 takes {fmt(local)}× Engine into a local directory.\n")
    elif case == "incremental":
        r = ratio(med(case, "incr-s3", "wall_s"), med(case, "full-s3", "wall_s"))
        print(f"- The incremental takes **{fmt(r, '.3f')}×** the full's time (goal ≤ 0.1×).\n")
    else:
        for kind in ("nbd", "fuse"):
            r = ratio(med(case, f"{kind}-s3", "wall_s"), med(case, f"{kind}-local", "wall_s"))
            print(f"- {kind}: from S3 takes {fmt(r)}× the local directory's time.")
        print()
