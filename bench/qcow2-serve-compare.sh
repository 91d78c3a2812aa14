#!/usr/bin/env bash
# Compare `engine serve IMG.qcow2` (the native qcow2 reader) with `qemu-nbd -r -f qcow2`.
#
# Makes (or reuses) a non-sparse raw file of SIZE bytes of random data, converts it once to qcow2 (64 KiB
# clusters, every cluster allocated, uncompressed), page-caches the qcow2, serves it read-only over a Unix socket
# from both servers side by side, and copies it with `nbdcopy URI null:` RUNS times per server, interleaved and in
# rotating order so load from the rest of the machine spreads alike. For every run: wall time and the CPU the server
# process consumed (utime+stime of /proc/PID/stat across the run, / CLK_TCK). Prints medians and the ratios
# engine/qemu-nbd (throughput: higher is better for engine; CPU: lower is better).
#
# Usage: bench/qcow2-serve-compare.sh           env: SIZE (4G) RUNS (5) WORKDIR (/var/tmp/nbd-bench) OUT
#        ENGINE_BIN (a published engine; default: `dotnet src/Engine.Cli/bin/Release/net10.0/linux-x64/engine.dll`,
#        JIT, which the figures then say), WARMUP (1), FRESH (regenerate the images).
# Output: a Markdown summary on stdout and in OUT/summary.md, per-run numbers in OUT/raw.tsv.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=qcow2-serve-compare
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

SIZE=${SIZE:-4G}
RUNS=${RUNS:-5}
WORKDIR=${WORKDIR:-/var/tmp/nbd-bench}
OUT=${OUT:-$REPO/bench/results/qcow2-serve-$(date +%Y%m%d-%H%M%S)}
ENGINE_BIN=${ENGINE_BIN:-}
WARMUP=${WARMUP:-1}
READY_TIMEOUT=${READY_TIMEOUT:-60}
FRESH=${FRESH:-}

need nbdcopy libnbd-bin
need nbdinfo libnbd-bin
need qemu-nbd qemu-utils
need qemu-img qemu-utils
check_missing

BYTES=$(parse_size SIZE "$SIZE")
mkdir -p "$WORKDIR" "$OUT/logs"
install_traps
make_sockdir
env_header >"$OUT/env.txt"

ENGINE_CMD=()
if [[ -n $ENGINE_BIN ]]; then
    ENGINE_CMD=("$ENGINE_BIN")
else
    dll="$REPO/src/Engine.Cli/bin/Release/net10.0/linux-x64/engine.dll"
    [[ -f $dll ]] || die "no ENGINE_BIN and no $dll: build src/Engine.Cli -c Release or set ENGINE_BIN"
    ENGINE_CMD=(dotnet "$dll")
    note "engine runs as $dll under the JIT (not the NativeAOT binary)"
fi

raw=$(raw_image_path "$BYTES")
ensure_raw_image "$raw" "$BYTES"
img="$WORKDIR/qcow2-bench-$BYTES.qcow2"
if [[ -n $FRESH || ! -f $img || $img -ot $raw ]]; then
    log "converting $raw to $img"
    qemu-img convert -f raw -O qcow2 "$raw" "$img.tmp"
    mv "$img.tmp" "$img"
fi
precache "$img"

declare -A URI
start() { # start NAME COMMAND...: background server, PID[NAME]
    local name=$1
    shift
    "$@" >"$OUT/logs/$name.log" 2>&1 &
    PID[$name]=$!
    CHILD[$name]=$!
    URI[$name]="nbd+unix:///?socket=$SOCKDIR/$name.sock"
    wait_nbd_ready "$name" "${URI[$name]}" "$BYTES" "$OUT/logs/$name.log" || die "$FAIL_MSG"
}
# --read-only as qemu-nbd -r: the native reader, whose plain data clusters go out with sendfile(2).
start engine "${ENGINE_CMD[@]}" serve "$img" --format qcow2 --read-only --socket "$SOCKDIR/engine.sock"
# --shared=8 with -r: qemu-nbd advertises multi-conn and accepts nbdcopy's parallel connections (as nbd-server-compare.sh).
start qemu-nbd qemu-nbd -r -t --shared=8 -f qcow2 --socket "$SOCKDIR/qemu-nbd.sock" "$img"

cpu() { # cpu PID: utime+stime in clock ticks
    local st
    st=$(cat "/proc/$1/stat")
    st=${st##*) }
    read -r -a f <<<"$st"
    echo $((f[11] + f[12]))
}

for name in engine qemu-nbd; do
    for ((i = 0; i < WARMUP; i++)); do nbdcopy "${URI[$name]}" null: >>"$OUT/logs/nbdcopy.log" 2>&1; done
done

TICK=$(getconf CLK_TCK)
printf 'server\tround\twall_s\tserver_cpu_s\n' >"$OUT/raw.tsv"
for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
    while read -r name; do
        before=$(cpu "${PID[$name]}")
        t0=$(date +%s.%N)
        nbdcopy "${URI[$name]}" null: >>"$OUT/logs/nbdcopy.log" 2>&1 || die "nbdcopy from $name failed (see $OUT/logs)"
        t1=$(date +%s.%N)
        after=$(cpu "${PID[$name]}")
        printf '%s\t%d\t%s\t%s\n' "$name" "$ROUND" "$(echo "$t1 - $t0" | bc -l)" "$(echo "($after - $before) / $TICK" | bc -l)" >>"$OUT/raw.tsv"
        log "round $ROUND $name done"
    done < <(rotated engine qemu-nbd)
done

"$PY" - "$OUT/raw.tsv" "$BYTES" "$(cat /proc/loadavg)" <<'PYEOF' | tee "$OUT/summary.md"
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])][1:]
size = int(sys.argv[2])
med = {}
for name in ("engine", "qemu-nbd"):
    walls = [float(r[2]) for r in rows if r[0] == name]
    cpus = [float(r[3]) for r in rows if r[0] == name]
    med[name] = (statistics.median(walls), statistics.median(cpus), len(walls))
print(f"| server | runs | median wall s | MiB/s | median server CPU s |")
print(f"|---|---|---|---|---|")
for name, (wall, cpu, n) in med.items():
    print(f"| {name} | {n} | {wall:.2f} | {size / wall / 2**20:.0f} | {cpu:.2f} |")
e, q = med["engine"], med["qemu-nbd"]
print()
print(f"engine / qemu-nbd: throughput {q[0] / e[0]:.2f}x, server CPU {e[1] / q[1]:.2f}x (load average at the end: {sys.argv[3]})")
PYEOF
