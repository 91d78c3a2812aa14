#!/usr/bin/env bash
# Compare Engine's NBD client (`engine copy`) with nbdcopy (libnbd), and
# `engine copy --dirty-bitmap` with ../shared/bench/dirty_copy.py.
#
# Cases (CASES selects a subset):
#   file-null    nbdkit -U S -f -r file IMG (non-zero raw file, SIZE)    -> null:
#   file-file    same source                                              -> a local file in TARGET_DIR
#   sparse-null  nbdkit -U S -f -r sparse-random SPARSE_SIZE seed=...     -> null:
#   sparse-file  same source                                              -> a local file in TARGET_DIR
#   dirty        qemu-nbd -f qcow2 -r -B b0 ... (qcow2 of DIRTY_SIZE with
#                DIRTY_PERCENT % dirtied in scattered 64 KiB extents)     -> null: / /dev/null
# In the first four, `engine copy URI DST --json` runs against
# `nbdcopy URI DST` (both with default options); in `dirty`,
# `engine copy --json --dirty-bitmap b0 URI null:` runs against
# `/usr/bin/python3 dirty_copy.py URI qemu:dirty-bitmap:b0 /dev/null`.
#
# Each run is timed with /usr/bin/time (client CPU = user + sys) and with a
# nanosecond clock around it (wall time, used for throughput). Throughput =
# source (virtual) size / wall; in `dirty`, dirty bytes / wall. The servers
# stay up side by side; runs are interleaved round-robin (one run per case and
# client per round, the order of cases and of clients rotating every round) so
# that load from the rest of a noisy machine spreads over all alike. Medians
# are reported.
#
# Correctness is checked once per source outside the timed runs: both clients
# copy the source into a file in TARGET_DIR, and the files must be identical
# (cmp); for the file source also identical to the image; for the sparse
# source engine's file must be about as sparse as nbdcopy's (allocated blocks,
# stat %b); for `dirty` both files must be identical and hold exactly the
# dirty bytes the image was built with. Every timed engine run must also
# report the expected byte counts in its --json output.
#
# Usage: bench/nbd-client-compare.sh [options]      (see --help)
# Every option also has an environment variable: SIZE, SPARSE_SIZE,
# SPARSE_SEED, SPARSE_PERCENT, SPARSE_RUNLENGTH, DIRTY_SIZE, DIRTY_PERCENT,
# DIRTY_SEED, RUNS, CASES, WORKDIR, TARGET_DIR, OUT, ENGINE_BIN, WARMUP,
# DIRTY_COPY, READY_TIMEOUT, MAX_RESTARTS, ENGINE_ARGS, NBDCOPY_ARGS, FRESH.
#
# A server that dies between runs (this machine is shared, and other jobs'
# clean-ups have been seen to stop qemu-nbd) is restarted, at most
# MAX_RESTARTS times per source; how and when it died is noted in the summary.
#
# Output: Markdown tables on stdout (also OUT/summary.md), per-run numbers in
# OUT/raw.tsv, logs in OUT/logs/, tool versions and machine details in
# OUT/env.txt.
# Exit status: 0 if every case completed and verified, 3 if any failed (the
# others are still measured and reported), 1 on setup errors (missing tools,
# bad options, a test image that cannot be built).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=nbd-client-compare
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh" # PATH, PY, die/log/warn, need, servers, traps, image, rotated

ALL_CASES="file-null file-file sparse-null sparse-file dirty"
SIZE=${SIZE:-4G}
SPARSE_SIZE=${SPARSE_SIZE:-16G}
SPARSE_SEED=${SPARSE_SEED:-42}
SPARSE_PERCENT=${SPARSE_PERCENT:-10}     # the plugin's default
SPARSE_RUNLENGTH=${SPARSE_RUNLENGTH:-16M} # the plugin's default
DIRTY_SIZE=${DIRTY_SIZE:-$SIZE}
DIRTY_PERCENT=${DIRTY_PERCENT:-5}
DIRTY_SEED=${DIRTY_SEED:-42}
RUNS=${RUNS:-5}
CASES=${CASES:-$ALL_CASES}
WORKDIR=${WORKDIR:-/var/tmp/nbd-bench}
TARGET_DIR=${TARGET_DIR:-}
OUT=${OUT:-}
ENGINE_BIN=${ENGINE_BIN:-}
WARMUP=${WARMUP:-1}
DIRTY_COPY=${DIRTY_COPY:-$REPO/../shared/bench/dirty_copy.py}
READY_TIMEOUT=${READY_TIMEOUT:-30}
MAX_RESTARTS=${MAX_RESTARTS:-2}
ENGINE_ARGS=${ENGINE_ARGS:-}
NBDCOPY_ARGS=${NBDCOPY_ARGS:-}
FRESH=${FRESH:-}

usage() {
    cat <<EOF
Usage: $0 [options]

  --size N            raw image size for file-null/file-file, K/M/G/T suffix (IEC) [SIZE=$SIZE]
  --sparse-size N     virtual size of the sparse-random source              [SPARSE_SIZE=$SPARSE_SIZE]
  --sparse-seed N     sparse-random seed=                                   [SPARSE_SEED=$SPARSE_SEED]
  --sparse-percent N  sparse-random percent= (share of data)                [SPARSE_PERCENT=$SPARSE_PERCENT]
  --sparse-runlength N  sparse-random runlength= (mean data run)            [SPARSE_RUNLENGTH=$SPARSE_RUNLENGTH]
  --dirty-size N      size of the qcow2 image of the dirty case             [DIRTY_SIZE=SIZE]
  --dirty-percent P   share of it dirtied after the bitmap is added (64 KiB extents) [DIRTY_PERCENT=$DIRTY_PERCENT]
  --dirty-seed N      seed of the dirty offsets                             [DIRTY_SEED=$DIRTY_SEED]
  --runs N            timed runs per case and client                        [RUNS=$RUNS]
  --cases "LIST"      subset of: $ALL_CASES [CASES]
  --workdir DIR       where the test images live (reused across runs)       [WORKDIR=$WORKDIR]
  --target-dir DIR    where the *-file cases write (deleted after each run) [TARGET_DIR=WORKDIR]
  --out DIR           results directory        [OUT=bench/results/YYYYmmdd-HHMMSS-client]
  --engine-bin PATH   use this engine executable instead of publishing      [ENGINE_BIN]
  --warmup N          untimed runs per case and client before timing        [WARMUP=$WARMUP]
  --dirty-copy PATH   the dirty_copy.py to compare with  [DIRTY_COPY=\$REPO/../shared/bench/dirty_copy.py]
  --ready-timeout S   seconds to wait for a server's socket                 [READY_TIMEOUT=$READY_TIMEOUT]
  --max-restarts N    restarts of a server that died (noted in the summary) [MAX_RESTARTS=$MAX_RESTARTS]
  --engine-args "ARGS"  extra options for every engine copy, e.g. "--connections 2" [ENGINE_ARGS]
  --nbdcopy-args "ARGS" extra options for every nbdcopy, e.g. "--flush"     [NBDCOPY_ARGS]
  --fresh             rebuild the test images even if matching ones exist   [FRESH=1]
EOF
}

while (($#)); do
    case $1 in
        --size) SIZE=$2; shift 2 ;;
        --sparse-size) SPARSE_SIZE=$2; shift 2 ;;
        --sparse-seed) SPARSE_SEED=$2; shift 2 ;;
        --sparse-percent) SPARSE_PERCENT=$2; shift 2 ;;
        --sparse-runlength) SPARSE_RUNLENGTH=$2; shift 2 ;;
        --dirty-size) DIRTY_SIZE=$2; shift 2 ;;
        --dirty-percent) DIRTY_PERCENT=$2; shift 2 ;;
        --dirty-seed) DIRTY_SEED=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --cases) CASES=$2; shift 2 ;;
        --workdir) WORKDIR=$2; shift 2 ;;
        --target-dir) TARGET_DIR=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --engine-bin) ENGINE_BIN=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --dirty-copy) DIRTY_COPY=$2; shift 2 ;;
        --ready-timeout) READY_TIMEOUT=$2; shift 2 ;;
        --max-restarts) MAX_RESTARTS=$2; shift 2 ;;
        --engine-args) ENGINE_ARGS=$2; shift 2 ;;
        --nbdcopy-args) NBDCOPY_ARGS=$2; shift 2 ;;
        --fresh) FRESH=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$BENCH_NAME: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

# ---------------------------------------------------------------- arguments

SIZE_BYTES=$(parse_size SIZE "$SIZE")
SPARSE_BYTES=$(parse_size SPARSE_SIZE "$SPARSE_SIZE")
SPARSE_RUNLENGTH_BYTES=$(parse_size SPARSE_RUNLENGTH "$SPARSE_RUNLENGTH")
DIRTY_BYTES=$(parse_size DIRTY_SIZE "$DIRTY_SIZE")
EXTENT=$((64 * 1024))
((SIZE_BYTES >= 4096)) || die "SIZE must be at least 4096 bytes"
((SPARSE_BYTES >= 4096)) || die "SPARSE_SIZE must be at least 4096 bytes"
((DIRTY_BYTES >= EXTENT && DIRTY_BYTES % EXTENT == 0)) || die "DIRTY_SIZE must be a multiple of 64 KiB"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
[[ $SPARSE_SEED =~ ^[0-9]+$ ]] || die "SPARSE_SEED must be a non-negative integer"
[[ $SPARSE_PERCENT =~ ^[0-9]+$ ]] && ((SPARSE_PERCENT <= 100)) || die "SPARSE_PERCENT must be an integer 0..100"
[[ $DIRTY_SEED =~ ^[0-9]+$ ]] || die "DIRTY_SEED must be a non-negative integer"
[[ $DIRTY_PERCENT =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DIRTY_PERCENT must be a number (percent)"
[[ $READY_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "READY_TIMEOUT must be a positive integer"
[[ $MAX_RESTARTS =~ ^[0-9]+$ ]] || die "MAX_RESTARTS must be a non-negative integer"
read -r -a ENGINE_EXTRA <<<"$ENGINE_ARGS"
read -r -a NBDCOPY_EXTRA <<<"$NBDCOPY_ARGS"

read -r -a CASE_LIST <<<"$CASES"
((${#CASE_LIST[@]})) || die "CASES is empty"
for c in "${CASE_LIST[@]}"; do
    [[ " $ALL_CASES " == *" $c "* ]] || die "unknown case '$c' in CASES (known: $ALL_CASES)"
done
wants() { [[ " ${CASE_LIST[*]} " == *" $1 "* ]]; }
wants_file() { wants file-null || wants file-file; }
wants_sparse() { wants sparse-null || wants sparse-file; }

# Number of 64 KiB extents dirtied: DIRTY_PERCENT % of the image, rounded,
# at least one.
DIRTY_EXTENTS=$(awk -v n=$((DIRTY_BYTES / EXTENT)) -v p="$DIRTY_PERCENT" 'BEGIN {
    k = int(n * p / 100 + 0.5); if (k < 1) k = 1; if (k > n) k = n; print k }')
DIRTY_EXPECTED=$((DIRTY_EXTENTS * EXTENT))

# ---------------------------------------------------------------- tools

need nbdcopy libnbd-bin
need nbdinfo libnbd-bin
need numfmt coreutils
need cmp diffutils
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (Debian package: time)")
if wants_file || wants_sparse; then need nbdkit nbdkit; fi
if wants dirty; then
    need qemu-img qemu-utils
    need qemu-io qemu-utils
    need qemu-nbd qemu-utils
    need_python_module nbd python3-libnbd
fi
[[ -n $ENGINE_BIN ]] || need_publish_toolchain
check_missing
if wants_file && ! nbdkit file --version >/dev/null 2>&1; then
    die "nbdkit's file plugin does not load (Debian package: nbdkit)"
fi
if wants_sparse && ! nbdkit sparse-random --version >/dev/null 2>&1; then
    die "nbdkit's sparse-random plugin does not load (Debian package: nbdkit; it needs nbdkit >= 1.24)"
fi
if wants dirty; then
    [[ -f $DIRTY_COPY ]] || die "dirty_copy.py not found at $DIRTY_COPY (expected in ../shared/bench/ beside the repository; set DIRTY_COPY, or leave 'dirty' out of CASES)"
    DIRTY_COPY=$(cd "$(dirname "$DIRTY_COPY")" && pwd)/$(basename "$DIRTY_COPY")
fi

# ---------------------------------------------------------------- output

[[ -n $OUT ]] || OUT="$REPO/bench/results/$(date +%Y%m%d-%H%M%S)-client"
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
[[ -n $TARGET_DIR ]] || TARGET_DIR=$WORKDIR
mkdir -p "$TARGET_DIR"
TARGET_DIR=$(cd "$TARGET_DIR" && pwd)
make_sockdir

# Output files of the *-file cases and of the checks; removed on exit.
DST_FILE="$TARGET_DIR/nbd-client-bench.$$.out"
VERIFY_ENGINE="$TARGET_DIR/nbd-client-bench.$$.verify-engine"
VERIFY_PEER="$TARGET_DIR/nbd-client-bench.$$.verify-peer"
CLEANUP_FILES+=("$DST_FILE" "$VERIFY_ENGINE" "$VERIFY_PEER")

declare -A URI    # source (file, sparse, dirty) -> NBD URI
declare -A SRCBAD # source -> why its server is unusable
declare -A CASEFAIL # case -> failure messages ('; '-separated)
declare -A DROPPED  # "case/client" -> why that client is no longer run in that case
install_traps

RAW="$OUT/raw.tsv"
STATUS="$OUT/status.tsv"
printf 'case\tclient\trun\tbytes\twall_s\ttime_wall_s\tgbps\tuser_s\tsys_s\tcpu_s\tinproc_s\tdata_bytes\tconnect_s\tblock_status_s\tcopy_s\n' >"$RAW"
printf 'case\tstatus\n' >"$STATUS"
printf '%q ' "$0" "$@" >"$OUT/command.txt"
{
    echo
    echo "SIZE=$SIZE SPARSE_SIZE=$SPARSE_SIZE SPARSE_SEED=$SPARSE_SEED SPARSE_PERCENT=$SPARSE_PERCENT SPARSE_RUNLENGTH=$SPARSE_RUNLENGTH DIRTY_SIZE=$DIRTY_SIZE DIRTY_PERCENT=$DIRTY_PERCENT DIRTY_SEED=$DIRTY_SEED RUNS=$RUNS WARMUP=$WARMUP MAX_RESTARTS=$MAX_RESTARTS ENGINE_ARGS=\"$ENGINE_ARGS\" NBDCOPY_ARGS=\"$NBDCOPY_ARGS\" CASES=\"$CASES\" WORKDIR=$WORKDIR TARGET_DIR=$TARGET_DIR"
} >>"$OUT/command.txt"

case_source() { echo "${1%%-*}"; }                  # file-null -> file
case_target() { [[ $1 == *-file ]] && echo file || echo null; }
case_clients() { [[ $1 == dirty ]] && echo "engine dirty_copy" || echo "engine nbdcopy"; }
case_bytes() {                                      # bytes the throughput is computed from
    case $(case_source "$1") in
        file) echo "$SIZE_BYTES" ;;
        sparse) echo "$SPARSE_BYTES" ;;
        dirty) echo "$DIRTY_EXPECTED" ;;
    esac
}
fail_case() { # fail_case CASE MESSAGE
    local c=$1
    warn "$c: $2"
    CASEFAIL[$c]="${CASEFAIL[$c]:+${CASEFAIL[$c]}; }$2"
}
drop_client() { # drop_client CASE CLIENT MESSAGE: no more runs of CLIENT in CASE
    DROPPED["$1/$2"]=$3
    fail_case "$1" "$2: $3"
}

{
    printf 'case\tsource\ttarget\tbytes\n'
    for c in "${CASE_LIST[@]}"; do
        case $(case_source "$c") in
            file) s="nbdkit file, $SIZE raw non-zero image" ;;
            sparse) s="nbdkit sparse-random $SPARSE_SIZE seed=$SPARSE_SEED percent=$SPARSE_PERCENT runlength=$SPARSE_RUNLENGTH" ;;
            dirty) s="qemu-nbd -B b0, $DIRTY_SIZE qcow2, $DIRTY_PERCENT % dirty ($DIRTY_EXTENTS scattered 64 KiB extents)" ;;
        esac
        if [[ $c == dirty ]]; then t="null: / /dev/null"; elif [[ $(case_target "$c") == file ]]; then t="new local file"; else t="null:"; fi
        printf '%s\t%s\t%s\t%s\n' "$c" "$s" "$t" "$(case_bytes "$c")"
    done
} >"$OUT/cases.tsv"

# ---------------------------------------------------------------- environment record

{
    env_header
    wants_file || wants_sparse && echo "nbdkit: $(nbdkit --version)"
    if wants dirty; then
        echo "qemu-nbd: $(qemu-nbd --version | head -1)"
        echo "dirty_copy.py: $DIRTY_COPY ($(sha256sum "$DIRTY_COPY" | cut -c1-12))"
        echo "python3: $($PY --version 2>&1), libnbd binding $($PY -c 'import nbd; print(nbd.NBD().get_version())' 2>/dev/null || echo '?')"
    fi
    echo "time: $(/usr/bin/time --version 2>&1 | head -1)"
    echo "target dir: $TARGET_DIR ($(df -PT "$TARGET_DIR" | awk 'NR == 2 {print $2 " on " $1 ", " $5 " used"}'))"
    echo "vm.dirty_background_ratio=$(cat /proc/sys/vm/dirty_background_ratio) vm.dirty_ratio=$(cat /proc/sys/vm/dirty_ratio) vm.dirty_expire_centisecs=$(cat /proc/sys/vm/dirty_expire_centisecs)"
    echo "engine copy options: ${ENGINE_ARGS:-defaults} (defaults: --connections auto: one per core up to 4 if the server advertises multi-conn, else 1; --requests 16; --request-size 1M)"
    echo "nbdcopy options: ${NBDCOPY_ARGS:-defaults}"
    true
} >"$OUT/env.txt"

ENGINE_PROBLEM=
if publish_engine "$OUT/logs"; then
    echo "engine binary: $ENGINE_BIN ($("$ENGINE_BIN" --version 2>/dev/null || echo 'version unknown'))" >>"$OUT/env.txt"
fi

# ---------------------------------------------------------------- test images

IMG=
if wants_file; then
    IMG=$(raw_image_path "$SIZE_BYTES")
    ensure_raw_image "$IMG" "$SIZE_BYTES"
fi

# The dirty image is cached in WORKDIR under a name made of its parameters;
# a .ok file written last marks it complete.
DIRTY_IMG="$WORKDIR/nbd-client-dirty-$DIRTY_BYTES-p$DIRTY_PERCENT-s$DIRTY_SEED-64k.qcow2"
build_dirty_image() {
    local raw tmp="$DIRTY_IMG.tmp" cmds="$DIRTY_IMG.writes" qlog="$OUT/logs/dirty-image.log"
    raw=$(raw_image_path "$DIRTY_BYTES")
    ensure_raw_image "$raw" "$DIRTY_BYTES"
    log "building $DIRTY_IMG: qcow2 of $DIRTY_BYTES bytes from $raw, bitmap b0, then $DIRTY_EXTENTS scattered 64 KiB writes (seed $DIRTY_SEED)"
    rm -f "$tmp" "$DIRTY_IMG" "$DIRTY_IMG.ok"
    qemu-img convert -f raw -O qcow2 "$raw" "$tmp" >"$qlog" 2>&1 || die "qemu-img convert -f raw -O qcow2 $raw $tmp failed (see $qlog)"
    qemu-img bitmap --add --enable "$tmp" b0 >>"$qlog" 2>&1 || die "qemu-img bitmap --add --enable $tmp b0 failed (see $qlog)"
    # Distinct 64 KiB-aligned offsets drawn by a seeded generator: the same
    # parameters always give the same image.
    "$PY" - "$((DIRTY_BYTES / EXTENT))" "$DIRTY_EXTENTS" "$DIRTY_SEED" >"$cmds" <<'EOF'
import random, sys
n, k, seed = map(int, sys.argv[1:])
for b in sorted(random.Random(seed).sample(range(n), k)):
    print(f"write -P 0x22 {b * 65536} 64k")
EOF
    [[ $(wc -l <"$cmds") -eq $DIRTY_EXTENTS ]] || die "could not generate the qemu-io commands ($cmds)"
    echo "quit" >>"$cmds"
    qemu-io -f qcow2 "$tmp" <"$cmds" >>"$qlog" 2>&1 || die "qemu-io -f qcow2 $tmp < $cmds failed (see $qlog)"
    if grep -qiE 'error|failed|not found' "$qlog"; then
        die "qemu-io reported errors while dirtying $tmp (see $qlog)"
    fi
    local wrote
    wrote=$(grep -c 'wrote 65536/65536 bytes at offset' "$qlog" || true)
    ((wrote == DIRTY_EXTENTS)) || die "qemu-io wrote $wrote of $DIRTY_EXTENTS extents (see $qlog)"
    qemu-img info "$tmp" | grep -q 'name: b0' || die "bitmap b0 missing from $tmp after the writes (see $qlog)"
    mv "$tmp" "$DIRTY_IMG"
    echo "size=$DIRTY_BYTES percent=$DIRTY_PERCENT seed=$DIRTY_SEED extents=$DIRTY_EXTENTS dirty_bytes=$DIRTY_EXPECTED" >"$DIRTY_IMG.ok"
}
if wants dirty; then
    if [[ -z $FRESH && -f $DIRTY_IMG && -f $DIRTY_IMG.ok ]]; then
        log "reusing dirty image $DIRTY_IMG ($(cat "$DIRTY_IMG.ok"); set FRESH=1 to rebuild)"
    else
        build_dirty_image
    fi
    echo "dirty image: $DIRTY_IMG: $(cat "$DIRTY_IMG.ok")" >>"$OUT/env.txt"
fi

# ---------------------------------------------------------------- servers

start_source() { # start_source SOURCE; returns 1 with FAIL_MSG set on failure
    local src=$1 sock="$SOCKDIR/$1.sock" slog="$OUT/logs/$1.server.log" size
    URI[$src]="nbd+unix:///?socket=$sock"
    rm -f "$sock"
    echo "# $(date -Is): starting the $src server" >>"$slog"
    case $src in
        file)
            size=$SIZE_BYTES
            nbdkit -U "$sock" -f -r file "$IMG" >>"$slog" 2>&1 &
            ;;
        sparse)
            size=$SPARSE_BYTES
            nbdkit -U "$sock" -f -r sparse-random size="$SPARSE_BYTES" seed="$SPARSE_SEED" \
                percent="$SPARSE_PERCENT" runlength="$SPARSE_RUNLENGTH_BYTES" >>"$slog" 2>&1 &
            ;;
        dirty)
            size=$DIRTY_BYTES
            # -r plus --shared>1: multi-conn advertised; --persistent: stays
            # up between clients; -B b0: exports qemu:dirty-bitmap:b0.
            qemu-nbd -f qcow2 -r -B b0 -k "$sock" --persistent --shared=8 "$DIRTY_IMG" >>"$slog" 2>&1 &
            ;;
    esac
    PID[$src]=$! CHILD[$src]=$!
    wait_nbd_ready "$src" "${URI[$src]}" "$size" "$slog"
}

SOURCES=()
wants_file && SOURCES+=(file)
wants_sparse && SOURCES+=(sparse)
wants dirty && SOURCES+=(dirty)

log "results in $OUT"
for src in "${SOURCES[@]}"; do
    FAIL_MSG=
    if start_source "$src"; then
        log "$src: ready on ${URI[$src]} (pid ${PID[$src]})"
    else
        SRCBAD[$src]=$FAIL_MSG
        warn "$src source unusable: $FAIL_MSG"
        stop_server "$src" >/dev/null 2>&1 || true
    fi
done
for c in "${CASE_LIST[@]}"; do
    src=$(case_source "$c")
    [[ -z ${SRCBAD[$src]:-} ]] || fail_case "$c" "server did not start: ${SRCBAD[$src]}"
    if [[ -n $ENGINE_PROBLEM ]]; then
        drop_client "$c" engine "$ENGINE_PROBLEM"
    fi
done

# ensure_source SOURCE WHEN: if SOURCE's server has died (this machine is
# shared: other jobs have been seen to kill servers by name), note how and
# when, and start it again, at most MAX_RESTARTS times per source. Returns 1
# with FAIL_MSG set if the source is unusable.
declare -A RESTARTS
ensure_source() {
    local src=$1 when=$2 rc=0 how msg slog
    if [[ -n ${SRCBAD[$src]:-} ]]; then
        FAIL_MSG="the $src server is unusable: ${SRCBAD[$src]}"
        return 1
    fi
    alive "${PID[$src]}" && return 0
    wait "${CHILD[$src]}" 2>/dev/null || rc=$?
    if ((rc > 128)); then how="was killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"; else how="exited with status $rc"; fi
    slog=$(grep -v '^#' "$OUT/logs/$src.server.log" | tail -2 | tr '\n' ' ')
    msg="the $src server (pid ${PID[$src]}) $how $when (its log: ${slog:-empty})"
    unset "PID[$src]" "CHILD[$src]"
    RESTARTS[$src]=$((${RESTARTS[$src]:-0} + 1))
    if ((RESTARTS[$src] > MAX_RESTARTS)); then
        SRCBAD[$src]="$msg (not restarted: it died more than MAX_RESTARTS=$MAX_RESTARTS times)"
        FAIL_MSG=${SRCBAD[$src]}
        return 1
    fi
    note "$msg; restarting it"
    if ! start_source "$src"; then
        SRCBAD[$src]="$msg; the restart failed: $FAIL_MSG"
        FAIL_MSG=${SRCBAD[$src]}
        stop_server "$src" >/dev/null 2>&1 || true
        return 1
    fi
}

# ---------------------------------------------------------------- one copy

# client_cmd CASE CLIENT DST: sets CMD to the command line of one copy.
client_cmd() {
    local c=$1 client=$2 dst=$3 uri=${URI[$(case_source "$1")]}
    case $client in
        engine)
            if [[ $c == dirty ]]; then
                CMD=("$ENGINE_BIN" copy --json --dirty-bitmap b0 "${ENGINE_EXTRA[@]}" "$uri" "$dst")
            else
                CMD=("$ENGINE_BIN" copy --json "${ENGINE_EXTRA[@]}" "$uri" "$dst")
            fi
            ;;
        nbdcopy) CMD=(nbdcopy "${NBDCOPY_EXTRA[@]}" "$uri" "$dst") ;;
        dirty_copy) CMD=("$PY" "$DIRTY_COPY" "$uri" qemu:dirty-bitmap:b0 "$dst") ;;
    esac
}

# parse_output CLIENT FILE: prints "inproc_s data_bytes bytes connect_s block_status_s copy_s"
# ('-' where a client does not say) from a client's stdout, or fails.
parse_output() {
    "$PY" - "$1" "$2" <<'EOF'
import json, re, sys
client, path = sys.argv[1], sys.argv[2]
text = open(path).read()
if client == "engine":
    d = json.loads(text)
    print(d["seconds"], d["data_bytes"], d["bytes"], "-", "-", "-")
elif client == "dirty_copy":
    m1 = re.search(r"dirty_bytes=(\d+)", text)
    m2 = re.search(r"connect=([\d.]+)ms block_status=([\d.]+)ms copy=([\d.]+)ms", text)
    if not (m1 and m2):
        sys.exit("unexpected dirty_copy.py output: " + text.strip()[:300])
    conn, bs, copy = (float(x) / 1e3 for x in m2.groups())
    print(f"{bs + copy:.6f}", m1.group(1), "-", f"{conn:.6f}", f"{bs:.6f}", f"{copy:.6f}")
else:
    print("- - - - - -")
EOF
}

# run_copy CASE CLIENT RUN: one copy (RUN 0: warm-up, not recorded). Returns
# 1 with FAIL_MSG set on failure.
run_copy() {
    local c=$1 client=$2 run=$3 src dst tf="$SOCKDIR/time" so="$SOCKDIR/stdout" clog t0 t1 rc=0
    local te tu ts parsed inproc data bytes conn bs copy want
    src=$(case_source "$c")
    clog="$OUT/logs/$c.$client.log"
    ensure_source "$src" "before run $run of $c/$client" || return 1
    if [[ $(case_target "$c") == file ]]; then dst=$DST_FILE; else dst=null:; fi
    [[ $client == dirty_copy ]] && dst=/dev/null
    rm -f "$DST_FILE"
    client_cmd "$c" "$client" "$dst"
    echo "# run $run: ${CMD[*]}" >>"$clog"
    t0=$(date +%s.%N)
    /usr/bin/time -f '%e %U %S' -o "$tf" "${CMD[@]}" >"$so" 2>>"$clog" || rc=$?
    t1=$(date +%s.%N)
    cat "$so" >>"$clog"
    rm -f "$DST_FILE"
    if ((rc != 0)); then
        FAIL_MSG="\`${CMD[*]}\` exited with status $rc: $(grep -v '^#' "$clog" | tail -3 | tr '\n' ' ')"
        if ! alive "${PID[$src]}"; then
            # Not the client's fault: lose this run, keep the client.
            ensure_source "$src" "during run $run of $c/$client (which failed: $FAIL_MSG)" || true
            SERVER_DIED=1
        fi
        return 1
    fi
    read -r te tu ts < <(tail -1 "$tf")
    if ! parsed=$(parse_output "$client" "$so" 2>&1); then
        FAIL_MSG="cannot read the output of \`${CMD[*]}\`: $parsed"
        return 1
    fi
    read -r inproc data bytes conn bs copy <<<"$parsed"
    # The byte counts must be right in every run, not only in the check.
    want=$(case_bytes "$c")
    if [[ $client == engine ]]; then
        if [[ $c == dirty ]]; then
            [[ $data == "$DIRTY_EXPECTED" ]] || { FAIL_MSG="engine copied data_bytes=$data, expected the $DIRTY_EXPECTED dirty bytes"; return 1; }
        else
            [[ $bytes == "$want" ]] || { FAIL_MSG="engine reports bytes=$bytes, expected $want"; return 1; }
        fi
    elif [[ $client == dirty_copy && $data != "$DIRTY_EXPECTED" ]]; then
        FAIL_MSG="dirty_copy.py found dirty_bytes=$data, expected $DIRTY_EXPECTED"
        return 1
    fi
    ((run > 0)) || return 0
    [[ $inproc == - ]] && inproc=
    [[ $data == - ]] && data=
    [[ $conn == - ]] && conn=
    [[ $bs == - ]] && bs=
    [[ $copy == - ]] && copy=
    awk -v c="$c" -v cl="$client" -v r="$run" -v n="$want" -v t0="$t0" -v t1="$t1" -v te="$te" \
        -v tu="$tu" -v ts="$ts" -v ip="$inproc" -v d="$data" -v cn="$conn" -v bs="$bs" -v cp="$copy" 'BEGIN {
            wall = t1 - t0
            printf "%s\t%s\t%d\t%s\t%.6f\t%s\t%.4f\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\n",
                c, cl, r, n, wall, te, n / wall / 1e9, tu, ts, tu + ts, ip, d, cn, bs, cp
        }' | tee -a "$RAW" |
        awk -F'\t' '{ printf "    %-11s %-10s run %d: %7.3f s %7.3f GB/s  CPU %5.2f s (user %.2f sys %.2f)%s\n",
                      $1, $2, $3, $5, $7, $10, $8, $9, ($11 == "" ? "" : sprintf("  in-process %.3f s", $11)) }' >&2
}

# ---------------------------------------------------------------- correctness

# alloc_bytes FILE: allocated bytes (stat %b blocks of %B bytes)
alloc_bytes() { echo $(($(stat -c '%b * %B' "$1"))); }

# verify_source SOURCE: both clients copy SOURCE into files once; compare.
# Prints what it found; returns 1 with FAIL_MSG set on a mismatch.
verify_source() {
    local src=$1 c peer vlog="$OUT/logs/verify-$1.log" ea pa rc
    if [[ $src == dirty ]]; then c=dirty; peer=dirty_copy; else c="$src-file"; peer=nbdcopy; fi
    rm -f "$VERIFY_ENGINE" "$VERIFY_PEER"
    ENGINE_FAILED=
    client_cmd "$c" engine "$VERIFY_ENGINE"
    echo "# ${CMD[*]}" >>"$vlog"
    rc=0; "${CMD[@]}" >"$SOCKDIR/verify.out" 2>"$SOCKDIR/verify.err" || rc=$?
    cat "$SOCKDIR/verify.err" "$SOCKDIR/verify.out" >>"$vlog"
    if ((rc != 0)); then
        ENGINE_FAILED=1
        FAIL_MSG="\`${CMD[*]}\` exited with status $rc: $(tail -3 "$SOCKDIR/verify.err" | tr '\n' ' ')"
        return 1
    fi
    client_cmd "$c" "$peer" "$VERIFY_PEER"
    # -v: record the connections and threads nbdcopy picks (untimed run).
    [[ $peer == nbdcopy ]] && CMD=(nbdcopy -v "${CMD[@]:1}")
    echo "# ${CMD[*]}" >>"$vlog"
    rc=0; "${CMD[@]}" >"$SOCKDIR/verify.out" 2>"$SOCKDIR/verify.err" || rc=$?
    grep -v 'libnbd: debug' "$SOCKDIR/verify.err" >>"$vlog" || true
    cat "$SOCKDIR/verify.out" >>"$vlog"
    if [[ $peer == nbdcopy ]]; then
        echo "nbdcopy default mode against the $src source: $(grep -m1 -o 'connections=.*' "$SOCKDIR/verify.err" || echo '?')" >>"$OUT/env.txt"
    fi
    rm -f "$SOCKDIR/verify.err"
    ((rc == 0)) || { FAIL_MSG="check copy \`${CMD[*]}\` exited with status $rc (see $vlog)"; return 1; }
    if ! cmp "$VERIFY_ENGINE" "$VERIFY_PEER" >>"$vlog" 2>&1; then
        FAIL_MSG="engine's copy differs from $peer's: $(tail -1 "$vlog")"
        return 1
    fi
    ea=$(alloc_bytes "$VERIFY_ENGINE")
    pa=$(alloc_bytes "$VERIFY_PEER")
    VERIFY_NOTE="engine and $peer outputs identical (cmp); allocated: engine $ea, $peer $pa bytes"
    case $src in
        file)
            if ! cmp "$VERIFY_ENGINE" "$IMG" >>"$vlog" 2>&1; then
                FAIL_MSG="engine's copy differs from the image $IMG: $(tail -1 "$vlog")"
                return 1
            fi
            VERIFY_NOTE+="; identical to the image"
            ;;
        sparse)
            # "About as sparse": at most 10 % (+1 MiB) more allocated than nbdcopy's.
            if ((ea * 10 > pa * 11 + 10 * 1048576)); then
                FAIL_MSG="engine's output is not sparse like nbdcopy's: $ea bytes allocated vs $pa (virtual $SPARSE_BYTES)"
                return 1
            fi
            ;;
        dirty)
            local n
            n=$(nbdinfo --map=qemu:dirty-bitmap:b0 "${URI[dirty]}" 2>>"$vlog" | awk '$3 == 1 { s += $2 } END { print s + 0 }')
            VERIFY_NOTE+="; the server's bitmap marks $n bytes dirty, expected $DIRTY_EXPECTED"
            ((n == DIRTY_EXPECTED)) || { FAIL_MSG="qemu:dirty-bitmap:b0 marks $n bytes dirty, expected $DIRTY_EXPECTED"; return 1; }
            ;;
    esac
    rm -f "$VERIFY_ENGINE" "$VERIFY_PEER"
}

for src in "${SOURCES[@]}"; do
    [[ -z $ENGINE_PROBLEM ]] || continue
    ensure_source "$src" "before the check" || continue
    log "checking the $src source: engine vs $([[ $src == dirty ]] && echo dirty_copy.py || echo nbdcopy), into files in $TARGET_DIR"
    FAIL_MSG='' VERIFY_NOTE=''
    if verify_source "$src"; then
        log "  ok: $VERIFY_NOTE"
        echo "check, $src source: $VERIFY_NOTE" >>"$OUT/env.txt"
    else
        echo "check, $src source: FAILED: $FAIL_MSG" >>"$OUT/env.txt"
        for c in "${CASE_LIST[@]}"; do
            [[ $(case_source "$c") == "$src" ]] || continue
            # An engine that cannot copy at all is not timed; wrong output
            # is timed anyway (and the case still fails).
            if [[ -n $ENGINE_FAILED ]]; then
                drop_client "$c" engine "check copy failed: $FAIL_MSG"
            else
                fail_case "$c" "check failed: $FAIL_MSG"
            fi
        done
    fi
    rm -f "$VERIFY_ENGINE" "$VERIFY_PEER"
done

# ---------------------------------------------------------------- runs

lost_run() { # lost_run CASE CLIENT MESSAGE: after a failed run_copy
    local src
    src=$(case_source "$1")
    if [[ -n ${SRCBAD[$src]:-} ]]; then
        fail_case "$1" "$3"
    elif [[ -z $SERVER_DIED ]]; then
        drop_client "$@"
    fi # else: the server died under the client and has been restarted; noted.
}

runnable() { # runnable CASE CLIENT
    [[ -z ${DROPPED["$1/$2"]:-} && -z ${SRCBAD[$(case_source "$1")]:-} ]]
}

[[ -z $IMG ]] || precache "$IMG"
[[ ! -f $DIRTY_IMG ]] || ! wants dirty || precache "$DIRTY_IMG"
if ((WARMUP > 0)); then
    log "warm-up: $WARMUP untimed run(s) per case and client"
    for c in "${CASE_LIST[@]}"; do
        for client in $(case_clients "$c"); do
            for ((w = 1; w <= WARMUP; w++)); do
                runnable "$c" "$client" || continue
                FAIL_MSG='' SERVER_DIED=''
                run_copy "$c" "$client" 0 || lost_run "$c" "$client" "warm-up failed: $FAIL_MSG"
            done
        done
    done
fi

for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
    log "round $ROUND/$RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    # For scale: the engine's bare start-up (a NativeAOT binary unless ENGINE_BIN says otherwise), in every engine wall time.
    if [[ -z $ENGINE_PROBLEM ]]; then
        t0=$(date +%s.%N)
        if /usr/bin/time -f '%e %U %S' -o "$SOCKDIR/time" "$ENGINE_BIN" --version >/dev/null 2>&1; then
            t1=$(date +%s.%N)
            read -r te tu ts < <(tail -1 "$SOCKDIR/time")
            awk -v r="$ROUND" -v t0="$t0" -v t1="$t1" -v te="$te" -v tu="$tu" -v ts="$ts" 'BEGIN {
                printf "startup\tengine\t%d\t0\t%.6f\t%s\t0\t%s\t%s\t%.2f\t\t\t\t\t\n", r, t1 - t0, te, tu, ts, tu + ts }' >>"$RAW"
        fi
    fi
    mapfile -t corder < <(rotated "${CASE_LIST[@]}")
    for c in "${corder[@]}"; do
        read -r -a clients <<<"$(case_clients "$c")"
        mapfile -t order < <(rotated "${clients[@]}")
        for client in "${order[@]}"; do
            runnable "$c" "$client" || continue
            FAIL_MSG='' SERVER_DIED=''
            run_copy "$c" "$client" "$ROUND" || lost_run "$c" "$client" "run $ROUND failed: $FAIL_MSG"
        done
    done
done

for src in "${SOURCES[@]}"; do
    [[ -n ${PID[$src]:-} ]] || continue
    alive "${PID[$src]}" || note "the $src server died after its last run (see $OUT/logs/$src.server.log)"
    stop_server "$src" || true
done
for c in "${CASE_LIST[@]}"; do
    src=$(case_source "$c")
    if [[ -n ${SRCBAD[$src]:-} && -z ${CASEFAIL[$c]:-} ]]; then
        fail_case "$c" "${SRCBAD[$src]}"
    fi
    printf '%s\t%s\n' "$c" "${CASEFAIL[$c]:-ok}" >>"$STATUS"
done
echo "loadavg at end: $(cat /proc/loadavg)" >>"$OUT/env.txt"

echo >&2
"$PY" "$SCRIPT_DIR/nbd_client_summary.py" "$OUT" | tee "$OUT/summary.md"
echo
echo "Raw per-run numbers: $RAW; environment: $OUT/env.txt; logs: $OUT/logs/"
rc=0
for c in "${CASE_LIST[@]}"; do
    if [[ -n ${CASEFAIL[$c]:-} ]]; then
        echo "$BENCH_NAME: $c failed: ${CASEFAIL[$c]}" >&2
        rc=3
    fi
done
exit "$rc"
