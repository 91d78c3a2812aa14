#!/usr/bin/python3
"""Render the Markdown summary of a bench/nbd-server-compare.sh run.

    /usr/bin/python3 bench/nbd_bench_summary.py OUT_DIR

Reads OUT_DIR/raw.tsv (one row per nbdcopy run), OUT_DIR/latency.tsv (one row
per latency run, optional) and OUT_DIR/status.tsv (servers that failed,
optional) and prints Markdown tables of medians and Engine/peer ratios.
Can be re-run on an old results directory.
"""

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_tables import fmt, ratio, read_tsv  # noqa: E402

MODES = [("default", "default"), ("conn1", "--connections=1")]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    raw = read_tsv(os.path.join(out, "raw.tsv"))
    lat = read_tsv(os.path.join(out, "latency.tsv"))
    status = {r["server"]: r["status"] for r in read_tsv(os.path.join(out, "status.tsv"))}

    servers = list(status)  # the order of SERVERS
    for r in raw:
        if r["server"] not in servers:
            servers.append(r["server"])

    size = int(raw[0]["size_bytes"]) if raw else None

    def med(server, mode, col):
        vals = [float(r[col]) for r in raw if r["server"] == server and r["mode"] == mode and r[col] != ""]
        return (statistics.median(vals), len(vals)) if vals else (None, 0)

    lines = []
    if size is not None:
        lines.append(f"Sequential read of a {size} byte ({size / 2**30:g} GiB) page-cached raw file "
                     f"with `nbdcopy URI null:`; medians over the runs.")
        lines.append("")
    lines.append("| server | mode | runs | median GB/s | median server CPU s per copy "
                 "| median nbdcopy CPU s | throughput engine/peer | CPU engine/peer |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for mode, label in MODES:
        e_tp, _ = med("engine", mode, "gbps")
        e_cpu, _ = med("engine", mode, "server_cpu_s")
        for s in servers:
            tp, n = med(s, mode, "gbps")
            cpu, _ = med(s, mode, "server_cpu_s")
            cl_u, _ = med(s, mode, "client_user_s")
            cl_s, _ = med(s, mode, "client_sys_s")
            client = None if cl_u is None or cl_s is None else cl_u + cl_s
            if n == 0:
                lines.append(f"| {s} | {label} | 0 | failed | | | | |")
                continue
            if s == "engine":
                tr, cr = "1.00", "1.00"
            else:
                tr = fmt(ratio(e_tp, tp), ".2f")
                cr = fmt(ratio(e_cpu, cpu), ".2f")
            lines.append(f"| {s} | {label} | {n} | {fmt(tp, '.2f')} | {fmt(cpu, '.2f')} "
                         f"| {fmt(client, '.2f')} | {tr} | {cr} |")
    lines.append("")
    lines.append("GB/s = bytes / wall seconds / 1e9. Throughput ratio > 1: engine faster; "
                 "CPU ratio < 1: engine used less server CPU for the same copy.")

    if lat:
        lines.append("")
        lines.append("4 KiB random reads, one request in flight (`randread_latency.py`), "
                     "median over runs of each run's percentile:")
        lines.append("")
        lines.append("| server | runs | reads/run | p50 µs | p99 µs | p50 engine/peer | p99 engine/peer |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        lat_servers = [s for s in servers if any(r["server"] == s for r in lat)]
        for r in lat:
            if r["server"] not in lat_servers:
                lat_servers.append(r["server"])

        def lmed(server, col):
            vals = [float(r[col]) for r in lat if r["server"] == server]
            return statistics.median(vals) if vals else None

        e50, e99 = lmed("engine", "p50_us"), lmed("engine", "p99_us")
        for s in lat_servers:
            rows = [r for r in lat if r["server"] == s]
            p50, p99 = lmed(s, "p50_us"), lmed(s, "p99_us")
            if s == "engine":
                r50, r99 = "1.00", "1.00"
            else:
                r50, r99 = fmt(ratio(e50, p50), ".2f"), fmt(ratio(e99, p99), ".2f")
            lines.append(f"| {s} | {len(rows)} | {rows[0]['count']} | {fmt(p50, '.1f')} "
                         f"| {fmt(p99, '.1f')} | {r50} | {r99} |")
        lines.append("")
        lines.append("Latency ratio < 1: engine answers faster.")

    failed = {s: st for s, st in status.items() if st != "ok"}
    if failed:
        lines.append("")
        for s, st in failed.items():
            lines.append(f"- **{s}**: {st}")
        lines.append("")
        lines.append("(A server that failed part-way keeps the rows it completed.)")

    print("\n".join(lines))


if __name__ == "__main__":
    main()
