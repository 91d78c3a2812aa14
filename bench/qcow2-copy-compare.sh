#!/usr/bin/env bash
# qcow2 conversion benchmark, engine against qemu-img on the same files in the same run:
#   raw -> qcow2:  engine copy SRC.raw OUT.qcow2      vs  qemu-img convert -f raw -O qcow2 SRC.raw OUT.qcow2
#   qcow2 -> raw:  engine copy SRC.qcow2 OUT.raw      vs  qemu-img convert -f qcow2 -O raw SRC.qcow2 OUT.raw
# The source (SIZE) is half data, a quarter written zeroes and a quarter holes, in 1 MiB runs. Neither side flushes
# (qemu-img convert writes with cache=unsafe; engine copy without --flush). Medians of RUNS runs in alternating
# order, wall and CPU (user+sys) seconds, and their ratios. Usage: bench/qcow2-copy-compare.sh [--help]
set -euo pipefail
BENCH_NAME=qcow2-copy-compare
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

SIZE=${SIZE:-2G}
RUNS=${RUNS:-3}
WORKDIR=${WORKDIR:-/var/tmp/qcow2-bench}
# The engine command: a published binary, or the Release build run by dotnet (JIT: startup included in its times).
ENGINE=${ENGINE:-dotnet $REPO/src/Engine.Cli/bin/Release/net10.0/linux-x64/engine.dll}

if [[ ${1:-} == --help || ${1:-} == -h ]]; then
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    echo "Environment: SIZE=$SIZE RUNS=$RUNS WORKDIR=$WORKDIR ENGINE='$ENGINE'"
    exit 0
fi

need qemu-img qemu-utils
need /usr/bin/time time
need bc bc
check_missing
bytes=$(parse_size SIZE "$SIZE")
mkdir -p "$WORKDIR"
raw=$WORKDIR/src-$bytes.raw
qcow=$WORKDIR/src-$bytes.qcow2
if [[ ! -f $raw ]]; then
    log "writing $raw"
    "$PY" - "$raw" "$bytes" <<'PY'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
block = os.urandom(64 << 20)
zero = bytes(1 << 20)
with open(path + ".tmp", "wb") as f:
    for i in range(size >> 20):
        if i % 4 in (0, 2):
            o = (i * 7919 << 10) % (63 << 20)
            f.write(block[o:o + (1 << 20)])
        elif i % 4 == 1:
            f.write(zero)
        else:
            f.seek(1 << 20, 1)
    f.truncate(size)
os.rename(path + ".tmp", path)
PY
    rm -f "$qcow"
fi
[[ -f $qcow ]] || qemu-img convert -f raw -O qcow2 "$raw" "$qcow"

TIMES=$WORKDIR/times.tsv
printf 'test\ttool\trun\twall_s\tcpu_s\n' >"$TIMES"
# timed TEST TOOL RUN CMD...: runs CMD under /usr/bin/time and appends wall and user+sys seconds.
timed() {
    local test=$1 tool=$2 run=$3 wall user sys
    shift 3
    /usr/bin/time -o "$WORKDIR/time.txt" -f '%e %U %S' "$@" >"$WORKDIR/last.log" 2>&1 || die "$tool failed: $* (see $WORKDIR/last.log)"
    read -r wall user sys <"$WORKDIR/time.txt"
    printf '%s\t%s\t%s\t%s\t%s\n' "$test" "$tool" "$run" "$wall" "$(echo "$user + $sys" | bc)" >>"$TIMES"
}

out=$WORKDIR/out
for run in $(seq 1 "$RUNS"); do
    log "run $run/$RUNS"
    order=(engine qemu-img)
    ((run % 2 == 0)) && order=(qemu-img engine)
    for tool in "${order[@]}"; do
        rm -f "$out.qcow2" "$out.raw"
        if [[ $tool == engine ]]; then
            # shellcheck disable=SC2086 # ENGINE may be "dotnet path/engine.dll"
            timed raw-to-qcow2 engine "$run" $ENGINE copy "$raw" "$out.qcow2"
            qemu-img check -q "$out.qcow2" || die "engine's qcow2 fails qemu-img check"
            # shellcheck disable=SC2086
            timed qcow2-to-raw engine "$run" $ENGINE copy "$qcow" "$out.raw"
        else
            timed raw-to-qcow2 qemu-img "$run" qemu-img convert -f raw -O qcow2 "$raw" "$out.qcow2"
            timed qcow2-to-raw qemu-img "$run" qemu-img convert -f qcow2 -O raw "$qcow" "$out.raw"
        fi
        qemu-img compare -q -f raw -F raw "$raw" "$out.raw" || die "$tool's qcow2 -> raw differs from the source"
    done
done
rm -f "$out.qcow2" "$out.raw"

"$PY" - "$TIMES" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("| test | engine wall s | qemu-img wall s | speed ratio | engine CPU s | qemu-img CPU s | CPU ratio (qemu/engine) |")
print("|---|---|---|---|---|---|---|")
for test in ("raw-to-qcow2", "qcow2-to-raw"):
    m = {t: (statistics.median(float(r["wall_s"]) for r in rows if r["test"] == test and r["tool"] == t),
             statistics.median(float(r["cpu_s"]) for r in rows if r["test"] == test and r["tool"] == t)) for t in ("engine", "qemu-img")}
    e, q = m["engine"], m["qemu-img"]
    print(f"| {test} | {e[0]:.2f} | {q[0]:.2f} | {q[0] / e[0]:.2f}x | {e[1]:.2f} | {q[1]:.2f} | {q[1] / max(e[1], 1e-3):.2f}x |")
PY
