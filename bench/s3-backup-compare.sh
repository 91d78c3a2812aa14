#!/usr/bin/env bash
# S3 repository benchmarks of issue 13: Engine's backup into Ceph radosgw, side by side with restic into the same
# gateway in the same run, with Engine into a local directory for scale.
#
# The gateway is this script's own: `fixtures/services/ceph-rgw.sh start` (a memstore OSD, data in RAM), stopped on
# exit. Every timed run writes into a fresh bucket, removed (with its objects, bypassing rgw's GC) after the run, so
# no run finds another's chunks and the memstore does not fill.
#
# Cases (CASES selects a subset):
#   full         the SIZE raw image of backup-compare.sh (alternating 4 MiB of /dev/urandom and 4 MiB of written
#                zeros: half random, nothing dedups), read as a file:
#                  engine-s3     engine init --repo s3://FRESH/pve; engine backup --repo s3://FRESH/pve --disk hd0=IMG
#                  restic-s3     restic -r s3:ENDPOINT/FRESH init; restic backup IMG   (RESTIC_PASSWORD set, repo
#                                format 2, compression auto, a fresh cache directory per run)
#                  engine-local  engine backup --repo FRESH-DIR --disk hd0=IMG             (for scale)
#   incremental  a qcow2 copy of the image with persistent bitmap b0, DIRTY_PERCENT % rewritten in 4 MiB
#                chunk-aligned extents at seeded offsets with fresh random data (`qemu-io write -s FILE`, a file of
#                /dev/urandom per extent: the new chunks neither compress nor dedup, so they are uploaded), served by `qemu-nbd -r -t -f qcow2 -B b0`. Per run, a fresh
#                bucket gets an untimed base backup of the clean qcow2 (#bitmap=b0), then the timed one:
#                  incr-s3       engine backup --repo s3://FRESH/pve --disk hd0=URI#bitmap=b0 (parent: the base)
#                  full-s3       engine backup of the same export with #bitmap=b0 into an empty bucket (the full
#                                it is measured against; a qcow2 source, so zeros are not read)
#   restore      one check backup into a bucket and one into a directory (untimed); `engine export --socket
#                --fuse` of each, then:
#                  nbd-s3 / fuse-s3       qemu-img convert -f raw (NBD URI | FUSE file) -O raw OUT, from the bucket
#                  nbd-local / fuse-local the same from the directory
#
# Each run is timed as a whole process with /usr/bin/time (client CPU = user + sys; radosgw's and the OSD's CPU are
# recorded beside it in raw.tsv as gw_cpu_s: the gateway works for both clients alike; for the restore case the
# export's own CPU meanwhile is export_cpu_s). Runs are interleaved
# round-robin, rotated every round; medians over RUNS rounds with Engine/restic ratios.
#
# Correctness, outside the timed runs: the first engine-s3 backup must read SIZE bytes and store the non-zero half;
# its snapshot restored through the S3 export must equal the image (cmp, in the restore case); the incremental
# check must name the base as parent and restore (qemu-img compare) to the dirtied qcow2.
#
# Usage: bench/s3-backup-compare.sh [options]   (see --help)
# Output: Markdown tables on stdout (also OUT/summary.md; re-render with
# /usr/bin/python3 bench/s3_backup_summary.py OUT), per-run rows in OUT/raw.tsv, OUT/env.txt, OUT/logs/.
# Exit status: 0 if every case passed its checks, 3 if any failed, 1 on setup errors.
# shellcheck disable=SC2317  # (functions called through traps and "run_$case")
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=s3-backup-compare
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh" # PATH, PY, die/log/warn, need, servers, traps, rotated

ALL_CASES="full incremental restore"
SIZE=${SIZE:-4G}
RUNS=${RUNS:-3}
CASES=${CASES:-$ALL_CASES}
DIRTY_PERCENT=${DIRTY_PERCENT:-5}
DIRTY_SEED=${DIRTY_SEED:-42}
WORKDIR=${WORKDIR:-/var/tmp/backup-bench}
OUT=${OUT:-}
ENGINE_BIN=${ENGINE_BIN:-}
READY_TIMEOUT=${READY_TIMEOUT:-30}
FRESH=${FRESH:-}
RGW_PORT=${RGW_PORT:-7491}
MON_PORT=${MON_PORT:-3391}

usage() {
    cat <<EOF
Usage: $0 [options]

  --size N            disk size, a multiple of 8M (IEC suffixes)              [SIZE=$SIZE]
  --runs N            timed runs per case and client                          [RUNS=$RUNS]
  --cases "LIST"      subset of: $ALL_CASES               [CASES]
  --dirty-percent P   share of the disk rewritten for the incremental case    [DIRTY_PERCENT=$DIRTY_PERCENT]
  --dirty-seed N      seed of the dirty offsets                               [DIRTY_SEED=$DIRTY_SEED]
  --workdir DIR       image and local repositories (the image is reused)      [WORKDIR=$WORKDIR]
  --out DIR           results directory        [OUT=bench/results/YYYYmmdd-HHMMSS-s3-backup]
  --engine-bin PATH   use this engine executable instead of publishing        [ENGINE_BIN]
  --fresh             regenerate the image even if a matching one exists      [FRESH=1]
Gateway ports: RGW_PORT=$RGW_PORT MON_PORT=$MON_PORT (a second gateway beside the tests' one on 7480).
EOF
}

while (($#)); do
    case $1 in
        --size) SIZE=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --cases) CASES=$2; shift 2 ;;
        --dirty-percent) DIRTY_PERCENT=$2; shift 2 ;;
        --dirty-seed) DIRTY_SEED=$2; shift 2 ;;
        --workdir) WORKDIR=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --engine-bin) ENGINE_BIN=$2; shift 2 ;;
        --fresh) FRESH=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$BENCH_NAME: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

SIZE_BYTES=$(parse_size SIZE "$SIZE")
BLOCK=$((4 * 1024 * 1024)) # the random / zero alternation and the dirty extent, = Engine's chunk size
((SIZE_BYTES >= 2 * BLOCK && SIZE_BYTES % (2 * BLOCK) == 0)) || die "SIZE must be a multiple of 8 MiB"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $DIRTY_SEED =~ ^[0-9]+$ ]] || die "DIRTY_SEED must be a non-negative integer"
[[ $DIRTY_PERCENT =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DIRTY_PERCENT must be a number (percent)"
read -r -a CASE_LIST <<<"$CASES"
((${#CASE_LIST[@]})) || die "CASES is empty"
for c in "${CASE_LIST[@]}"; do
    [[ " $ALL_CASES " == *" $c "* ]] || die "unknown case '$c' in CASES (known: $ALL_CASES)"
done
wants() { [[ " ${CASE_LIST[*]} " == *" $1 "* ]]; }
NONZERO_BYTES=$((SIZE_BYTES / 2))
DIRTY_EXTENTS=$(awk -v n=$((SIZE_BYTES / BLOCK)) -v p="$DIRTY_PERCENT" 'BEGIN {
    k = int(n * p / 100 + 0.5); if (k < 1) k = 1; if (k > n) k = n; print k }')

need restic restic
need radosgw radosgw
need radosgw-admin radosgw
need ceph-mon ceph-mon
need ceph-osd ceph-osd
need qemu-nbd qemu-utils
need qemu-img qemu-utils
need qemu-io qemu-utils
need nbdinfo libnbd-bin
need cmp diffutils
wants restore && need fusermount3 fuse3
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (Debian package: time)")
if [[ -z $ENGINE_BIN ]]; then
    command -v dotnet >/dev/null 2>&1 || missing+=("dotnet (the .NET 10 SDK; or set ENGINE_BIN to a published engine)")
fi
check_missing

[[ -n $OUT ]] || OUT="$REPO/bench/results/$(date +%Y%m%d-%H%M%S)-s3-backup"
mkdir -p "$OUT/logs" "$WORKDIR"
OUT=$(cd "$OUT" && pwd)
WORKDIR=$(cd "$WORKDIR" && pwd)
make_sockdir
RUNDIR="$WORKDIR/s3run.$$"
mkdir -p "$RUNDIR"
declare -A URI CASEFAIL DROPPED
CEPH_DIR=
install_traps
trap 'bench_cleanup_run' EXIT
bench_cleanup_run() {
    local rc=$? m
    set +e
    for name in "${!PID[@]}"; do stop_server "$name" 2>&"$STDERR_FD"; done
    for m in "$RUNDIR"/fuse-*/hd0; do
        mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
    done
    [[ -z $CEPH_DIR ]] || "$REPO/fixtures/services/ceph-rgw.sh" stop "$CEPH_DIR" 2>&"$STDERR_FD"
    rm -rf -- "$RUNDIR"
    (exit "$rc")
    bench_cleanup
}

RAW="$OUT/raw.tsv"
STATUS="$OUT/status.tsv"
printf 'case\tclient\trun\tbytes\twall_s\tuser_s\tsys_s\tcpu_s\tgw_cpu_s\tbytes_read\tbytes_stored\texport_cpu_s\n' >"$RAW"
printf 'case\tstatus\n' >"$STATUS"
printf '%q ' "$0" "$@" >"$OUT/command.txt"
echo >>"$OUT/command.txt"
echo "SIZE=$SIZE RUNS=$RUNS CASES=\"$CASES\" DIRTY_PERCENT=$DIRTY_PERCENT DIRTY_SEED=$DIRTY_SEED WORKDIR=$WORKDIR" >>"$OUT/command.txt"

fail_case() { warn "$1: $2"; CASEFAIL[$1]="${CASEFAIL[$1]:+${CASEFAIL[$1]}; }$2"; }
drop_client() { DROPPED["$1/$2"]=$3; fail_case "$1" "$2: $3"; }

{
    env_header
    echo "restic: $(restic version)"
    echo "radosgw: $(radosgw --version 2>/dev/null | head -1)"
    echo "time: $(/usr/bin/time --version 2>&1 | head -1)"
    echo "workdir: $WORKDIR ($(df -PT "$WORKDIR" | awk 'NR == 2 {print $2 " on " $1 ", " $5 " used"}'))"
    echo "size_bytes: $SIZE_BYTES"
    echo "nonzero_bytes: $NONZERO_BYTES"
    echo "dirty: $DIRTY_PERCENT % in 4 MiB extents ($DIRTY_EXTENTS), seed $DIRTY_SEED"
} >"$OUT/env.txt"

ENGINE_PROBLEM=
publish_engine "$OUT/logs" || die "no engine to measure: $ENGINE_PROBLEM"
echo "engine binary: $ENGINE_BIN ($("$ENGINE_BIN" --version 2>/dev/null || echo 'version unknown'))" >>"$OUT/env.txt"

# ---------------------------------------------------------------- the image (backup-compare.sh's)

IMG="$WORKDIR/backup-bench-$SIZE_BYTES-alt4m.raw"
ensure_alt4m_image "$IMG" "$SIZE_BYTES"
echo "image: $IMG" >>"$OUT/env.txt"

# ---------------------------------------------------------------- the gateway

log "starting radosgw (fixtures/services/ceph-rgw.sh start, port $RGW_PORT)"
# Room for one run's objects and the restore case's two kept snapshots.
GW_ENV=$(RGW_PORT=$RGW_PORT MON_PORT=$MON_PORT MEMSTORE_BYTES=$((4 * SIZE_BYTES)) \
    "$REPO/fixtures/services/ceph-rgw.sh" start "$RUNDIR/ceph") || die "the gateway did not start (see $RUNDIR/ceph/log)"
eval "$GW_ENV"
CEPH_CONF="$CEPH_DIR/ceph.conf"
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_ENDPOINT_URL=$S3_ENDPOINT AWS_REGION=us-east-1
export RESTIC_PASSWORD=s3-bench-password
echo "gateway: $S3_ENDPOINT (ceph-rgw.sh, memstore $((4 * SIZE_BYTES)) bytes)" >>"$OUT/env.txt"
# gw_cpu: radosgw's + ceph-osd's CPU so far (clock ticks)
gw_cpu() { cat "$CEPH_DIR"/run/client.rgw.a.pid "$CEPH_DIR"/run/osd.0.pid | while read -r p; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ s += $1 } END { print s }'; }
BUCKET_N=0
new_bucket() { BUCKET_N=$((BUCKET_N + 1)); BUCKET="s3bench-$$-$BUCKET_N"; }
drop_bucket() { # drop_bucket NAME: removes it and its objects now (not through rgw's deferred GC)
    radosgw-admin -c "$CEPH_CONF" bucket rm --bucket="$1" --purge-objects --bypass-gc >>"$OUT/logs/buckets.log" 2>&1 ||
        warn "could not remove bucket $1 (see $OUT/logs/buckets.log)"
}

# ---------------------------------------------------------------- one timed run

TF="$SOCKDIR/time"
SO="$SOCKDIR/stdout"
# timed LOG CMD...: runs CMD with stdout in $SO; sets T_WALL T_USER T_SYS T_GW (the gateway's CPU seconds meanwhile)
timed() {
    local clog=$1 t0 t1 g0 g1 rc=0
    shift
    echo "# $(date +%T) ${*}" >>"$clog"
    g0=$(gw_cpu)
    t0=$(date +%s.%N)
    /usr/bin/time -f '%e %U %S' -o "$TF" "$@" >"$SO" 2>>"$clog" || rc=$?
    t1=$(date +%s.%N)
    g1=$(gw_cpu)
    cat "$SO" >>"$clog"
    if ((rc != 0)); then
        FAIL_MSG="\`$*\` exited with status $rc: $(grep -v '^#' "$clog" | tail -3 | tr '\n' ' ')"
        return "$rc"
    fi
    T_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    T_GW=$(awk -v a="$g0" -v b="$g1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
    read -r _ T_USER T_SYS < <(tail -1 "$TF")
    sync
}

record() { # record CASE CLIENT RUN BYTES [BYTES_READ BYTES_STORED EXPORT_CPU]
    awk -v c="$1" -v cl="$2" -v r="$3" -v n="$4" -v w="$T_WALL" -v u="$T_USER" -v s="$T_SYS" -v g="$T_GW" \
        -v br="${5:-}" -v bs="${6:-}" -v ec="${7:-}" 'BEGIN {
            printf "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n", c, cl, r, n, w, u, s, u + s, g, br, bs, ec
        }' | tee -a "$RAW" |
        awk -F'\t' '{ printf "    %-11s %-13s run %d: %8.3f s  CPU %6.2f s (user %.2f sys %.2f)  gateway CPU %.2f s%s\n",
                      $1, $2, $3, $5, $8, $6, $7, $9, ($11 == "" ? "" : "  read " $10 " stored " $11) ($12 == "" ? "" : "  export CPU " $12 " s") }' >&2
}

ENGINE_OUT="$SOCKDIR/engine.json"
# engine_backup LOG REPO SOURCE [timed]: sets E_READ E_STORED E_SNAPSHOT E_PARENT
engine_backup() {
    if [[ ${4:-} == untimed ]]; then
        "$ENGINE_BIN" backup --repo "$2" --vmid 100 --disk "hd0=$3" --json >"$SO" 2>>"$1" || { FAIL_MSG="engine backup --repo $2 failed (see $1)"; return 1; }
    else
        timed "$1" "$ENGINE_BIN" backup --repo "$2" --vmid 100 --disk "hd0=$3" --json || return 1
    fi
    cp "$SO" "$ENGINE_OUT"
    read -r E_READ E_STORED E_SNAPSHOT E_PARENT < <(json_field "$ENGINE_OUT" bytes_read bytes_new snapshot parent) ||
        { FAIL_MSG="cannot read engine's --json output: $(head -c 300 "$ENGINE_OUT")"; return 1; }
}
engine_init_s3() { # engine_init_s3 LOG: a fresh bucket with an Engine repository; sets BUCKET and S3REPO
    new_bucket
    S3REPO="s3://$BUCKET/pve"
    "$ENGINE_BIN" init --repo "$S3REPO" >>"$1" 2>&1 || { FAIL_MSG="engine init --repo $S3REPO failed (see $1)"; return 1; }
}

run_full() { # run_full CLIENT RUN
    local client=$1 run=$2 clog="$OUT/logs/full.$1.log" repo="$RUNDIR/full-repo"
    case $client in
        engine-s3)
            engine_init_s3 "$clog" || return 1
            engine_backup "$clog" "$S3REPO" "$IMG" || { drop_bucket "$BUCKET"; return 1; }
            drop_bucket "$BUCKET"
            [[ $E_READ == "$SIZE_BYTES" && $E_STORED == "$NONZERO_BYTES" ]] ||
                { FAIL_MSG="engine read $E_READ bytes and stored $E_STORED new; expected $SIZE_BYTES and $NONZERO_BYTES"; return 1; }
            record full engine-s3 "$run" "$SIZE_BYTES" "$E_READ" "$E_STORED"
            ;;
        restic-s3)
            new_bucket
            export RESTIC_CACHE_DIR="$RUNDIR/restic-cache"
            rm -rf "$RESTIC_CACHE_DIR"
            echo "# restic -r s3:$S3_ENDPOINT/$BUCKET init" >>"$clog"
            restic -r "s3:$S3_ENDPOINT/$BUCKET" init >>"$clog" 2>&1 || { FAIL_MSG="restic init failed (see $clog)"; return 1; }
            timed "$clog" restic -r "s3:$S3_ENDPOINT/$BUCKET" backup --compression auto --json "$IMG" || { drop_bucket "$BUCKET"; return 1; }
            local added
            added=$(grep '"message_type":"summary"' "$SO" | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["data_added"])' 2>/dev/null || echo "")
            drop_bucket "$BUCKET"
            rm -rf "$RESTIC_CACHE_DIR"
            record full restic-s3 "$run" "$SIZE_BYTES" "" "$added"
            ;;
        engine-local)
            rm -rf "$repo"
            engine_backup "$clog" "$repo" "$IMG" || return 1
            rm -rf "$repo"
            record full engine-local "$run" "$SIZE_BYTES" "$E_READ" "$E_STORED"
            ;;
    esac
}

run_incremental() { # run_incremental CLIENT RUN
    local client=$1 run=$2 clog="$OUT/logs/incremental.$1.log"
    engine_init_s3 "$clog" || return 1
    case $client in
        incr-s3)
            # The base, untimed; its bitmap state is the clean image's (the dirty copy's b0 was cleared before writing).
            engine_backup "$clog" "$S3REPO" "${URI[clean]}#bitmap=b0" untimed || { drop_bucket "$BUCKET"; return 1; }
            engine_backup "$clog" "$S3REPO" "${URI[dirty]}#bitmap=b0" || { drop_bucket "$BUCKET"; return 1; }
            drop_bucket "$BUCKET"
            [[ -n $E_PARENT ]] || { FAIL_MSG="the incremental backup has no parent: it was full"; return 1; }
            record incremental incr-s3 "$run" "$DIRTY_BYTES" "$E_READ" "$E_STORED"
            ;;
        full-s3)
            engine_backup "$clog" "$S3REPO" "${URI[dirty]}#bitmap=b0" || { drop_bucket "$BUCKET"; return 1; }
            drop_bucket "$BUCKET"
            [[ -z $E_PARENT ]] || { FAIL_MSG="the full backup has parent $E_PARENT"; return 1; }
            record incremental full-s3 "$run" "$SIZE_BYTES" "$E_READ" "$E_STORED"
            ;;
    esac
}

run_restore() { # run_restore CLIENT RUN
    local client=$1 run=$2 clog="$OUT/logs/restore.$1.log" out="$RUNDIR/restore.raw" src where
    where=${client#*-}
    case $client in
        nbd-*) src=${URI[export-$where]} ;;
        fuse-*) src=$RUNDIR/fuse-$where/hd0/disk.raw ;;
    esac
    rm -f "$out"
    local cpu0
    cpu0=$(export_cpu "$where")
    timed "$clog" qemu-img convert -f raw "$src" -O raw "$out" || return 1
    if ((run == 1)); then
        cmp "$out" "$IMG" >>"$clog" 2>&1 || { FAIL_MSG="$client's output differs from the image"; rm -f "$out"; return 1; }
        echo "check, restore/$client: output identical to the image (cmp)" >>"$OUT/env.txt"
    fi
    rm -f "$out"
    record restore "$client" "$run" "$SIZE_BYTES" "" "" \
        "$(awk -v a="$cpu0" -v b="$(export_cpu "$where")" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')"
}
# export_cpu WHERE: the engine export's CPU so far (clock ticks): the client's CPU alone hides the work the export does
export_cpu() { awk '{ print $14 + $15 }' "/proc/${PID[export-$1]}/stat"; }

# ---------------------------------------------------------------- set-up

log "results in $OUT"
precache "$IMG"

start_qemu_nbd() { # start_qemu_nbd NAME FILE: a qcow2 with bitmap b0
    local name=$1 sock="$SOCKDIR/$1.sock" slog="$OUT/logs/$1.server.log"
    URI[$name]="nbd+unix:///?socket=$sock"
    qemu-nbd -r -t -f qcow2 --shared=8 -B b0 -k "$sock" "$2" >>"$slog" 2>&1 &
    PID[$name]=$! CHILD[$name]=$!
    wait_nbd_ready "$name" "${URI[$name]}" "$SIZE_BYTES" "$slog"
}

if wants incremental; then
    ilog="$OUT/logs/incremental-setup.log"
    CLEAN="$RUNDIR/clean.qcow2" DIRTY="$RUNDIR/dirty.qcow2"
    log "incremental: qcow2 copies with bitmap b0, $DIRTY_EXTENTS 4 MiB extents rewritten in one"
    qemu-img convert -f raw -O qcow2 "$IMG" "$CLEAN" >>"$ilog" 2>&1 || die "qemu-img convert failed (see $ilog)"
    qemu-img bitmap --add --enable "$CLEAN" b0 >>"$ilog" 2>&1 || die "qemu-img bitmap --add failed (see $ilog)"
    cp "$CLEAN" "$DIRTY"
    # The clean copy's b0 stays empty (it is the base's state); the dirty copy's b0 marks exactly what was rewritten.
    # Fresh random data per extent (a constant pattern would compress to nothing and leave the upload untimed).
    mkdir -p "$RUNDIR/dirty-data"
    "$PY" - "$((SIZE_BYTES / BLOCK))" "$DIRTY_EXTENTS" "$DIRTY_SEED" "$BLOCK" "$RUNDIR/dirty-data" >"$RUNDIR/writes" <<'EOF'
import os, random, sys
n, k, seed, extent = map(int, sys.argv[1:5])
folder = sys.argv[5]
for i, b in enumerate(sorted(random.Random(seed).sample(range(n), k))):
    path = os.path.join(folder, f"{i}.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(extent))
    print(f"write -s {path} {b * extent} {extent}")
print("quit")
EOF
    qemu-io -f qcow2 "$DIRTY" <"$RUNDIR/writes" >>"$ilog" 2>&1 || die "qemu-io failed (see $ilog)"
    rm -rf "$RUNDIR/dirty-data"
    start_qemu_nbd clean "$CLEAN" || die "qemu-nbd did not start: $FAIL_MSG"
    start_qemu_nbd dirty "$DIRTY" || die "qemu-nbd did not start: $FAIL_MSG"
    DIRTY_BYTES=$(nbdinfo --map=qemu:dirty-bitmap:b0 "${URI[dirty]}" | awk '$3 == 1 { s += $2 } END { print s + 0 }')
    echo "dirty_bytes: $DIRTY_BYTES ($DIRTY_EXTENTS x 4 MiB written)" >>"$OUT/env.txt"
    ((DIRTY_BYTES == DIRTY_EXTENTS * BLOCK)) || fail_case incremental "the bitmap marks $DIRTY_BYTES bytes dirty, $((DIRTY_EXTENTS * BLOCK)) were written"
    # Check: base + incremental in one bucket, restored, equals the dirtied image.
    if engine_init_s3 "$ilog" && engine_backup "$ilog" "$S3REPO" "${URI[clean]}#bitmap=b0" untimed && base=$E_SNAPSHOT &&
        engine_backup "$ilog" "$S3REPO" "${URI[dirty]}#bitmap=b0" untimed; then
        echo "check incremental: read $E_READ bytes, stored $E_STORED new, parent $E_PARENT (base $base)" >>"$OUT/env.txt"
        [[ $E_PARENT == "$base" ]] || fail_case incremental "the incremental's parent is '$E_PARENT', expected $base"
        if "$ENGINE_BIN" restore --repo "$S3REPO" --snapshot "$E_SNAPSHOT" --disk hd0 --to "$RUNDIR/check.raw" >>"$ilog" 2>&1 &&
            qemu-img compare -f raw -F qcow2 "$RUNDIR/check.raw" "$DIRTY" >>"$ilog" 2>&1; then
            echo "check incremental restore from S3: identical to the dirtied qcow2 (qemu-img compare)" >>"$OUT/env.txt"
        else
            fail_case incremental "the restored incremental snapshot differs from the dirtied image (see $ilog)"
        fi
    else
        fail_case incremental "check backups failed: $FAIL_MSG"
    fi
    rm -f "$RUNDIR/check.raw"
    drop_bucket "$BUCKET"
fi

start_export() { # start_export WHERE REPO SNAPSHOT
    local where=$1 slog="$OUT/logs/export-$1.server.log" fuse="$RUNDIR/fuse-$1"
    mkdir -p "$fuse"
    echo "# engine export --repo $2 --snapshot $3 --socket $SOCKDIR/export-$where.sock --fuse $fuse" >"$slog"
    "$ENGINE_BIN" export --repo "$2" --snapshot "$3" --socket "$SOCKDIR/export-$where.sock" --fuse "$fuse" >>"$slog" 2>&1 &
    PID[export-$where]=$! CHILD[export-$where]=$!
    URI[export-$where]="nbd+unix:///hd0?socket=$SOCKDIR/export-$where.sock"
    wait_nbd_ready "export-$where" "${URI[export-$where]}" "$SIZE_BYTES" "$slog" || return 1
    for ((i = 0; i < 100; i++)); do [[ -f $fuse/hd0/disk.raw ]] && break; sleep 0.1; done
    [[ -f $fuse/hd0/disk.raw ]] || { FAIL_MSG="no $fuse/hd0/disk.raw"; return 1; }
}
if wants restore; then
    log "restore: check backups into a bucket and a directory (untimed), exported"
    rlog="$OUT/logs/restore-setup.log"
    if engine_init_s3 "$rlog" && engine_backup "$rlog" "$S3REPO" "$IMG" untimed; then
        echo "check backup into $S3REPO: read $E_READ, stored $E_STORED new; snapshot $E_SNAPSHOT" >>"$OUT/env.txt"
        [[ $E_READ == "$SIZE_BYTES" && $E_STORED == "$NONZERO_BYTES" ]] || fail_case restore "S3 check backup read $E_READ / stored $E_STORED, expected $SIZE_BYTES / $NONZERO_BYTES"
        start_export s3 "$S3REPO" "$E_SNAPSHOT" || fail_case restore "engine export of $S3REPO: $FAIL_MSG"
    else
        fail_case restore "S3 check backup failed: $FAIL_MSG"
    fi
    if engine_backup "$rlog" "$RUNDIR/restore-repo" "$IMG" untimed; then
        start_export local "$RUNDIR/restore-repo" "$E_SNAPSHOT" || fail_case restore "engine export of the directory: $FAIL_MSG"
    else
        fail_case restore "local check backup failed: $FAIL_MSG"
    fi
fi

# ---------------------------------------------------------------- runs

ITEMS=()
wants full && ITEMS+=(full/engine-s3 full/restic-s3 full/engine-local)
wants incremental && ITEMS+=(incremental/incr-s3 incremental/full-s3)
wants restore && [[ -z ${CASEFAIL[restore]:-} ]] && ITEMS+=(restore/nbd-s3 restore/fuse-s3 restore/nbd-local restore/fuse-local)

for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
    log "round $ROUND/$RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "loadavg at round $ROUND: $(cat /proc/loadavg)" >>"$OUT/env.txt"
    mapfile -t order < <(rotated "${ITEMS[@]}")
    for item in "${order[@]}"; do
        c=${item%%/*} client=${item#*/}
        [[ -z ${DROPPED[$item]:-} ]] || continue
        FAIL_MSG=''
        "run_$c" "$client" "$ROUND" || drop_client "$c" "$client" "run $ROUND failed: $FAIL_MSG"
    done
done

for name in "${!PID[@]}"; do stop_server "$name" || true; done
for c in "${CASE_LIST[@]}"; do printf '%s\t%s\n' "$c" "${CASEFAIL[$c]:-ok}" >>"$STATUS"; done
echo "loadavg at end: $(cat /proc/loadavg)" >>"$OUT/env.txt"

echo >&2
"$PY" "$SCRIPT_DIR/s3_backup_summary.py" "$OUT" | tee "$OUT/summary.md"
echo
echo "Raw per-run numbers: $RAW; environment and checks: $OUT/env.txt; logs: $OUT/logs/"
rc=0
for c in "${CASE_LIST[@]}"; do
    [[ -z ${CASEFAIL[$c]:-} ]] || { echo "$BENCH_NAME: $c failed: ${CASEFAIL[$c]}" >&2; rc=3; }
done
exit "$rc"
