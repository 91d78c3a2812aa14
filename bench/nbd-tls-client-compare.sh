#!/usr/bin/env bash
# Engine's client over TLS against nbdcopy (libnbd): `engine copy URI null:`
# and `nbdcopy URI null:` from one nbdkit --tls=require (X.509, certificates
# made here with certtool) serving a non-zero raw file of SIZE from the page
# cache over a Unix socket, URI nbds+unix:///?socket=S&tls-certificates=DIR.
# RUNS rounds, the two clients alternating (who goes first rotates); medians of
# wall time, throughput = SIZE / wall, client CPU = user + sys.
#
# Correctness is checked once, outside the timed runs: both clients copy the
# export into a file and both files must equal the image (cmp).
#
# Usage: bench/nbd-tls-client-compare.sh
# Environment: SIZE (2G), RUNS (3), WORKDIR (/var/tmp/nbd-bench), OUT
# (a new directory under /tmp), ENGINE_BIN (unset: published from src/Engine.Cli), FRESH.
# Output: a Markdown table on stdout (also OUT/summary.md), per-run figures in OUT/raw.tsv.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=nbd-tls-client-compare
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

SIZE=${SIZE:-2G}
RUNS=${RUNS:-3}
WORKDIR=${WORKDIR:-/var/tmp/nbd-bench}
OUT=${OUT:-$(mktemp -d /tmp/nbd-tls-client-compare.XXXXXX)}
ENGINE_BIN=${ENGINE_BIN:-}
FRESH=${FRESH:-}

missing=()
need nbdkit nbdkit
need nbdcopy libnbd-bin
need certtool gnutls-bin
need cmp diffutils
[[ -n $ENGINE_BIN ]] || need_publish_toolchain
check_missing

mkdir -p "$WORKDIR" "$OUT/logs"
bytes=$(parse_size SIZE "$SIZE")
img=$(raw_image_path "$bytes")
ensure_raw_image "$img" "$bytes"
publish_engine "$OUT/logs" || die "$ENGINE_PROBLEM"

make_pki "$OUT/pki" >"$OUT/logs/certtool.log" 2>&1 || die "certtool failed (see $OUT/logs/certtool.log)"
pki="$OUT/pki/server"

SOCKDIR=$(mktemp -d /tmp/nbd-tls-bench.XXXXXX)
sock="$SOCKDIR/k.sock"
nbdkit -U "$sock" -f -r --tls=require --tls-certificates "$pki" file "$img" >"$OUT/logs/nbdkit.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$SOCKDIR"' EXIT
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.1; done
[[ -S $sock ]] || die "nbdkit did not start (see $OUT/logs/nbdkit.log)"
uri="nbds+unix:///?socket=$sock&tls-certificates=$pki"
precache "$img"

log "checking both copies against the image"
"$ENGINE_BIN" copy "$uri" "$OUT/engine.raw" >"$OUT/logs/check-engine.log" 2>&1 || die "engine copy failed (see $OUT/logs/check-engine.log)"
nbdcopy "$uri" "$OUT/nbdcopy.raw" >"$OUT/logs/check-nbdcopy.log" 2>&1 || die "nbdcopy failed (see $OUT/logs/check-nbdcopy.log)"
cmp "$img" "$OUT/engine.raw" || die "engine's copy differs from the image"
cmp "$img" "$OUT/nbdcopy.raw" || die "nbdcopy's copy differs from the image"
rm -f "$OUT/engine.raw" "$OUT/nbdcopy.raw"

printf 'client\trun\twall_s\tcpu_s\n' >"$OUT/raw.tsv"
run() { # run NAME RUN CMD...
    local name=$1 round=$2 start end
    shift 2
    start=$(date +%s%N)
    /usr/bin/time -f '%U %S' -o "$SOCKDIR/time" "$@" >"$OUT/logs/$name-$round.log" 2>&1 || die "$name failed (see $OUT/logs/$name-$round.log)"
    end=$(date +%s%N)
    read -r user sys <"$SOCKDIR/time"
    printf '%s\t%s\t%s\t%s\n' "$name" "$round" "$(echo "scale=3; ($end - $start) / 1000000000" | bc)" "$(echo "$user + $sys" | bc)" >>"$OUT/raw.tsv"
}
for ((i = 1; i <= RUNS; i++)); do
    log "round $i of $RUNS"
    if ((i % 2)); then
        run engine "$i" "$ENGINE_BIN" copy "$uri" null:
        run nbdcopy "$i" nbdcopy "$uri" null:
    else
        run nbdcopy "$i" nbdcopy "$uri" null:
        run engine "$i" "$ENGINE_BIN" copy "$uri" null:
    fi
done

"$PY" - "$OUT/raw.tsv" "$bytes" "$SIZE" <<'PYEOF' | tee "$OUT/summary.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
size = int(sys.argv[2])
med = {}
for client in ("engine", "nbdcopy"):
    runs = [r for r in rows if r["client"] == client]
    wall = statistics.median(float(r["wall_s"]) for r in runs)
    cpu = statistics.median(float(r["cpu_s"]) for r in runs)
    med[client] = (wall, cpu, len(runs))
print(f"| client (copy {sys.argv[3]} over X.509 TLS to null:) | runs | median wall s | GB/s | client CPU s |")
print("|---|---:|---:|---:|---:|")
for client, (wall, cpu, n) in med.items():
    print(f"| {client} | {n} | {wall:.2f} | {size / wall / 1e9:.2f} | {cpu:.2f} |")
print()
print(f"engine / nbdcopy throughput: {med['nbdcopy'][0] / med['engine'][0]:.2f}x")
PYEOF
