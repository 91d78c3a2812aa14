#!/usr/bin/python3
"""4 KiB random-read latency against an NBD server, one request in flight.

Connects with libnbd's Python binding (Debian: python3-libnbd; run it with
/usr/bin/python3, the interpreter the binding is installed for), issues
WARMUP untimed and then COUNT timed synchronous h.pread() calls at random
block-aligned offsets, and reports latency percentiles in microseconds.

    /usr/bin/python3 bench/randread_latency.py 'nbd+unix:///?socket=/tmp/s' \
        [--count 20000] [--warmup 1000] [--block-size 4096] [--seed 1] [--json]
"""

import argparse
import json
import random
import sys
import time

try:
    import nbd
except ImportError:
    sys.exit("randread_latency.py: cannot import nbd: install the Debian package "
             "python3-libnbd and run this script with /usr/bin/python3")


def percentile(sorted_ns, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ns:
        return float("nan")
    rank = max(1, -(-len(sorted_ns) * p // 100))  # ceil(n * p / 100)
    return sorted_ns[int(rank) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("uri", help="NBD URI, e.g. nbd+unix:///?socket=/tmp/s")
    ap.add_argument("--count", type=int, default=20000, help="timed reads (default 20000)")
    ap.add_argument("--warmup", type=int, default=1000, help="untimed reads first (default 1000)")
    ap.add_argument("--block-size", type=int, default=4096, help="read size and alignment (default 4096)")
    ap.add_argument("--seed", type=int, default=1, help="RNG seed for the offsets (default 1)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()

    h = nbd.NBD()
    h.connect_uri(args.uri)
    try:
        size = h.get_size()
        bs = args.block_size
        blocks = size // bs
        if blocks < 1:
            sys.exit(f"randread_latency.py: export is {size} bytes, smaller than one {bs}-byte block")

        rng = random.Random(args.seed)
        # Offsets are drawn up front so the RNG is not inside the timed region.
        offsets = [rng.randrange(blocks) * bs for _ in range(args.warmup + args.count)]

        pread = h.pread
        for off in offsets[:args.warmup]:
            pread(bs, off)

        clock = time.perf_counter_ns
        lat = [0] * args.count
        timed = offsets[args.warmup:]
        for i in range(args.count):
            off = timed[i]
            t0 = clock()
            buf = pread(bs, off)
            lat[i] = clock() - t0
            if len(buf) != bs:
                sys.exit(f"randread_latency.py: short read at {off}: {len(buf)} bytes")
    finally:
        try:
            h.shutdown()
        except nbd.Error:
            pass

    lat.sort()
    us = lambda ns: ns / 1000.0
    result = {
        "uri": args.uri,
        "export_size": size,
        "block_size": bs,
        "count": args.count,
        "warmup": args.warmup,
        "p50_us": us(percentile(lat, 50)),
        "p90_us": us(percentile(lat, 90)),
        "p99_us": us(percentile(lat, 99)),
        "p999_us": us(percentile(lat, 99.9)),
        "min_us": us(lat[0]),
        "max_us": us(lat[-1]),
        "mean_us": us(sum(lat) / len(lat)),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.count} x {bs} B random reads (QD1, {args.warmup} warm-up) on {args.uri}")
        for k in ("p50_us", "p90_us", "p99_us", "p999_us", "min_us", "max_us", "mean_us"):
            print(f"  {k[:-3]:>5}: {result[k]:9.1f} us")


if __name__ == "__main__":
    main()
