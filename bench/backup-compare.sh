#!/usr/bin/env bash
# Backup benchmarks of issue 4: Engine's VM backup and restore, side by side with
# the ceiling (nbdcopy to null:), a peer deduplicating store (borg) and plain
# qemu-img convert.
#
# Cases (CASES selects a subset):
#   full         a SIZE raw image, alternating 4 MiB of /dev/urandom and 4 MiB of
#                zeros (written zeros, not holes: 50 % random non-zero data, the
#                file fully allocated), exported by
#                `qemu-nbd -r -t -f raw --shared=8 -k S IMG`:
#                  engine       engine backup --repo FRESH --vmid 100 --disk hd0=URI --json
#                  engine-file  engine backup ... --disk hd0=IMG --json (the same image as a file)
#                  nbdcopy      nbdcopy URI null:                         (the ceiling)
#                  borg         borg create --read-special FRESH::run IMG   (borg init -e none)
#                  disk-direct  dd of SIZE/2 bytes with oflag=direct bs=4M, then sync (the floor for
#                               Engine's O_DIRECT chunk writes; for scale, no peer)
#                  disk-write   dd of SIZE/2 bytes with conv=fdatasync into WORKDIR (what the
#                               disk takes to store what a backup stores; for scale, no peer)
#   incremental  a qcow2 copy of the image with a persistent bitmap b0; a full
#                backup with #bitmap=b0 (the base), `qemu-img bitmap --clear`,
#                then DIRTY_PERCENT % of the disk rewritten by one qemu-io run in
#                64 KiB extents at seeded random offsets; exported with
#                `qemu-nbd -r -t -f qcow2 -B b0`:
#                  full            engine backup of that export with #bitmap=b0 into a fresh repo
#                  incr            engine backup with #bitmap=b0 into a copy of the base repo
#                  incr-clustered  the same, but with the DIRTY_PERCENT % rewritten in 4 MiB
#                                  chunk-aligned extents (a second copy, same base snapshot)
#   restore      the snapshot of the full case's check backup:
#                  convert-raw     qemu-img convert -f raw IMG -O raw OUT        (the original)
#                  convert-fuse    qemu-img convert -f raw FUSE -O raw OUT       (engine export --fuse)
#                  convert-nbd     qemu-img convert -f raw NBD-URI -O raw OUT    (engine export's socket)
#                  (the export's own CPU during each run: OUT/restore-server-cpu.tsv)
#                  engine-restore  engine restore --repo R --snapshot ID --disk hd0 --to OUT
#
# Every repository and output lives in WORKDIR (/var/tmp: the same disk as the
# image). Each run is timed as a whole process (nanosecond clock around it) and
# with /usr/bin/time (client CPU = user + sys); after it, an untimed-by-default
# `sync` is timed separately (flush_s) so that one run's dirty pages do not
# fall into the next one's time. Runs are interleaved round-robin: every round
# runs each (case, client) once, in an order that rotates every round. Medians
# over RUNS rounds are reported with Engine/peer ratios.
#
# Correctness, outside the timed runs: the check backup of the full case must
# read SIZE bytes and store the non-zero half; its `engine restore` must equal
# the image (cmp); the incremental check backup must read at most 1.1x the
# dirty bytes and restore to exactly the dirtied qcow2 (qemu-img compare); the
# first timed FUSE and NBD conversions are compared with the image too.
#
# Usage: bench/backup-compare.sh [options]      (see --help)
# Output: Markdown tables on stdout (also OUT/summary.md; re-render with
# /usr/bin/python3 bench/backup_summary.py OUT), per-run rows in OUT/raw.tsv,
# OUT/env.txt, OUT/logs/.
# Exit status: 0 if every case completed and passed its checks, 3 if any
# failed (the others are still measured), 1 on setup errors.
# shellcheck disable=SC2317  # (functions called through traps and "run_$case")
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=backup-compare
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh" # PATH, PY, die/log/warn, need, servers, traps, rotated

ALL_CASES="full incremental restore"
ALL_FULL_CLIENTS="engine engine-file nbdcopy borg disk-write disk-direct"
SIZE=${SIZE:-4G}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
CASES=${CASES:-$ALL_CASES}
FULL_CLIENTS=${FULL_CLIENTS:-$ALL_FULL_CLIENTS}
DIRTY_PERCENT=${DIRTY_PERCENT:-5}
DIRTY_SEED=${DIRTY_SEED:-42}
WORKDIR=${WORKDIR:-/var/tmp/backup-bench}
OUT=${OUT:-}
ENGINE_BIN=${ENGINE_BIN:-}
READY_TIMEOUT=${READY_TIMEOUT:-30}
FRESH=${FRESH:-}

usage() {
    cat <<EOF
Usage: $0 [options]

  --size N            disk size, a multiple of 8M (IEC suffixes)                  [SIZE=$SIZE]
  --runs N            timed runs per case and client                              [RUNS=$RUNS]
  --warmup N          untimed runs per case and client before timing              [WARMUP=$WARMUP]
  --cases "LIST"      subset of: $ALL_CASES                   [CASES]
  --full-clients "L"  subset of: $ALL_FULL_CLIENTS [FULL_CLIENTS]
  --dirty-percent P   share of the disk rewritten for the incremental case        [DIRTY_PERCENT=$DIRTY_PERCENT]
  --dirty-seed N      seed of the dirty offsets                                   [DIRTY_SEED=$DIRTY_SEED]
  --workdir DIR       image, repositories and outputs (the image is reused)       [WORKDIR=$WORKDIR]
  --out DIR           results directory           [OUT=bench/results/YYYYmmdd-HHMMSS-backup]
  --engine-bin PATH   use this engine executable instead of publishing            [ENGINE_BIN]
  --ready-timeout S   seconds to wait for a server's socket                       [READY_TIMEOUT=$READY_TIMEOUT]
  --fresh             regenerate the image even if a matching one exists          [FRESH=1]
EOF
}

while (($#)); do
    case $1 in
        --size) SIZE=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --cases) CASES=$2; shift 2 ;;
        --full-clients) FULL_CLIENTS=$2; shift 2 ;;
        --dirty-percent) DIRTY_PERCENT=$2; shift 2 ;;
        --dirty-seed) DIRTY_SEED=$2; shift 2 ;;
        --workdir) WORKDIR=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --engine-bin) ENGINE_BIN=$2; shift 2 ;;
        --ready-timeout) READY_TIMEOUT=$2; shift 2 ;;
        --fresh) FRESH=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$BENCH_NAME: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

# ---------------------------------------------------------------- arguments

SIZE_BYTES=$(parse_size SIZE "$SIZE")
BLOCK=$((4 * 1024 * 1024))  # the random / zero alternation, = Engine's chunk size
EXTENT=$((64 * 1024))       # the dirty extent, = qemu's default bitmap granularity
((SIZE_BYTES >= 2 * BLOCK && SIZE_BYTES % (2 * BLOCK) == 0)) || die "SIZE must be a multiple of 8 MiB"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
[[ $DIRTY_SEED =~ ^[0-9]+$ ]] || die "DIRTY_SEED must be a non-negative integer"
[[ $DIRTY_PERCENT =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DIRTY_PERCENT must be a number (percent)"
[[ $READY_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "READY_TIMEOUT must be a positive integer"
read -r -a CASE_LIST <<<"$CASES"
((${#CASE_LIST[@]})) || die "CASES is empty"
for c in "${CASE_LIST[@]}"; do
    [[ " $ALL_CASES " == *" $c "* ]] || die "unknown case '$c' in CASES (known: $ALL_CASES)"
done
read -r -a FULL_LIST <<<"$FULL_CLIENTS"
for c in "${FULL_LIST[@]}"; do
    [[ " $ALL_FULL_CLIENTS " == *" $c "* ]] || die "unknown client '$c' in FULL_CLIENTS (known: $ALL_FULL_CLIENTS)"
done
wants() { [[ " ${CASE_LIST[*]} " == *" $1 "* ]]; }
wants_full() { wants full && [[ " ${FULL_LIST[*]} " == *" $1 "* ]]; }
NONZERO_BYTES=$((SIZE_BYTES / 2))
DIRTY_EXTENTS=$(awk -v n=$((SIZE_BYTES / EXTENT)) -v p="$DIRTY_PERCENT" 'BEGIN {
    k = int(n * p / 100 + 0.5); if (k < 1) k = 1; if (k > n) k = n; print k }')

# ---------------------------------------------------------------- tools

need qemu-nbd qemu-utils
need qemu-img qemu-utils
need nbdinfo libnbd-bin
need numfmt coreutils
need cmp diffutils
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (Debian package: time)")
wants_full nbdcopy && need nbdcopy libnbd-bin
wants_full borg && need borg borgbackup   # apt-get install borgbackup
wants incremental && need qemu-io qemu-utils
wants restore && need fusermount3 fuse3
wants restore && { [[ -e /dev/fuse ]] || missing+=("/dev/fuse (FUSE: the restore case mounts engine export --fuse)"); }
if [[ -z $ENGINE_BIN ]]; then
    command -v dotnet >/dev/null 2>&1 || missing+=("dotnet (the .NET 10 SDK; or set ENGINE_BIN to a published engine)")
fi
check_missing

# ---------------------------------------------------------------- output

[[ -n $OUT ]] || OUT="$REPO/bench/results/$(date +%Y%m%d-%H%M%S)-backup"
mkdir -p "$OUT/logs" "$WORKDIR"
OUT=$(cd "$OUT" && pwd)
WORKDIR=$(cd "$WORKDIR" && pwd)
make_sockdir
RUNDIR="$WORKDIR/run.$$" # repositories and outputs of this run; removed on exit
mkdir -p "$RUNDIR"
declare -A URI      # server -> NBD URI
declare -A CASEFAIL # case -> failure messages
declare -A DROPPED  # "case/client" -> why it is no longer run
install_traps
trap 'bench_cleanup_run' EXIT
bench_cleanup_run() {
    local rc=$?
    set +e
    for name in "${!PID[@]}"; do stop_server "$name" 2>&"$STDERR_FD"; done
    [[ -z ${FUSEDIR:-} ]] || ! mountpoint -q "$FUSEDIR/hd0" 2>/dev/null || fusermount3 -u "$FUSEDIR/hd0" 2>/dev/null || umount -l "$FUSEDIR/hd0" 2>/dev/null
    rm -rf -- "$RUNDIR"
    (exit "$rc")
    bench_cleanup
}

RAW="$OUT/raw.tsv"
STATUS="$OUT/status.tsv"
printf 'case\tclient\trun\tbytes\twall_s\tuser_s\tsys_s\tcpu_s\tflush_s\tbytes_read\tbytes_stored\tinproc_s\n' >"$RAW"
printf 'case\tstatus\n' >"$STATUS"
printf '%q ' "$0" "$@" >"$OUT/command.txt"
echo >>"$OUT/command.txt"
echo "SIZE=$SIZE RUNS=$RUNS WARMUP=$WARMUP CASES=\"$CASES\" FULL_CLIENTS=\"$FULL_CLIENTS\" DIRTY_PERCENT=$DIRTY_PERCENT DIRTY_SEED=$DIRTY_SEED WORKDIR=$WORKDIR" >>"$OUT/command.txt"

fail_case() { # fail_case CASE MESSAGE
    warn "$1: $2"
    CASEFAIL[$1]="${CASEFAIL[$1]:+${CASEFAIL[$1]}; }$2"
}
drop_client() { # drop_client CASE CLIENT MESSAGE
    DROPPED["$1/$2"]=$3
    fail_case "$1" "$2: $3"
}

{
    env_header
    echo "qemu-nbd: $(qemu-nbd --version | head -1)"
    wants_full borg && echo "borg: $(borg --version)"
    echo "time: $(/usr/bin/time --version 2>&1 | head -1)"
    echo "workdir: $WORKDIR ($(df -PT "$WORKDIR" | awk 'NR == 2 {print $2 " on " $1 ", " $5 " used"}'))"
    echo "size_bytes: $SIZE_BYTES"
    echo "nonzero_bytes: $NONZERO_BYTES"
    echo "dirty: $DIRTY_PERCENT %, seed $DIRTY_SEED"
} >"$OUT/env.txt"

ENGINE_PROBLEM=
publish_engine "$OUT/logs" || die "no engine to measure: $ENGINE_PROBLEM"
echo "engine binary: $ENGINE_BIN ($("$ENGINE_BIN" --version 2>/dev/null || echo 'version unknown'))" >>"$OUT/env.txt"

# ---------------------------------------------------------------- the image

IMG="$WORKDIR/backup-bench-$SIZE_BYTES-alt4m.raw"
ensure_alt4m_image "$IMG" "$SIZE_BYTES"
echo "image: $IMG (4 MiB urandom / 4 MiB written zeros alternating; $(($(stat -c '%b * %B' "$IMG"))) bytes allocated)" >>"$OUT/env.txt"

# ---------------------------------------------------------------- servers

start_qemu_nbd() { # start_qemu_nbd NAME FORMAT FILE [EXTRA...]: returns 1 with FAIL_MSG set on failure
    local name=$1 fmt=$2 file=$3 sock="$SOCKDIR/$1.sock" slog="$OUT/logs/$1.server.log"
    shift 3
    URI[$name]="nbd+unix:///?socket=$sock"
    rm -f "$sock"
    echo "# $(date -Is): qemu-nbd -r -t -f $fmt --shared=8 $* -k $sock $file" >>"$slog"
    # -t: stays up between clients; --shared=8 with -r: multi-conn advertised.
    qemu-nbd -r -t -f "$fmt" --shared=8 "$@" -k "$sock" "$file" >>"$slog" 2>&1 &
    PID[$name]=$! CHILD[$name]=$!
    wait_nbd_ready "$name" "${URI[$name]}" "$SIZE_BYTES" "$slog"
}

# ---------------------------------------------------------------- one timed run

TF="$SOCKDIR/time"
SO="$SOCKDIR/stdout"
# timed LOG CMD...: runs CMD with stdout in $SO; sets T_WALL T_USER T_SYS T_FLUSH
# (the `sync` after it). Returns CMD's status, with FAIL_MSG set.
timed() {
    local clog=$1 t0 t1 t2 rc=0
    shift
    echo "# $(date +%T) ${*}" >>"$clog"
    t0=$(date +%s.%N)
    /usr/bin/time -f '%e %U %S' -o "$TF" "$@" >"$SO" 2>>"$clog" || rc=$?
    t1=$(date +%s.%N)
    sync
    t2=$(date +%s.%N)
    cat "$SO" >>"$clog"
    if ((rc != 0)); then
        FAIL_MSG="\`$*\` exited with status $rc: $(grep -v '^#' "$clog" | tail -3 | tr '\n' ' ')"
        return "$rc"
    fi
    T_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    T_FLUSH=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.6f", b - a }')
    read -r _ T_USER T_SYS < <(tail -1 "$TF")
}

# record CASE CLIENT RUN BYTES [BYTES_READ BYTES_STORED INPROC]: one row of raw.tsv (RUN 0, a warm-up: none)
record() {
    (($3 > 0)) || return 0
    awk -v c="$1" -v cl="$2" -v r="$3" -v n="$4" -v w="$T_WALL" -v u="$T_USER" -v s="$T_SYS" -v f="$T_FLUSH" \
        -v br="${5:-}" -v bs="${6:-}" -v ip="${7:-}" 'BEGIN {
            printf "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n", c, cl, r, n, w, u, s, u + s, f, br, bs, ip
        }' | tee -a "$RAW" |
        awk -F'\t' '{ printf "    %-11s %-14s run %d: %8.3f s %7.3f GB/s  CPU %6.2f s (user %.2f sys %.2f)  sync %.2f s%s\n",
                      $1, $2, $3, $5, $4 / $5 / 1e9, $8, $6, $7, $9, ($10 == "" ? "" : "  read " $10 " stored " $11) }' >&2
}

ENGINE_OUT="$SOCKDIR/engine.json"
# engine_backup LOG REPO SOURCE: a timed engine backup; sets E_READ E_STORED E_SECONDS E_PARENT E_SNAPSHOT
engine_backup() {
    timed "$1" "$ENGINE_BIN" backup --repo "$2" --vmid 100 --disk "hd0=$3" --json || return 1
    cp "$SO" "$ENGINE_OUT"
    read -r E_READ E_STORED E_SECONDS E_SNAPSHOT E_PARENT < <(json_field "$ENGINE_OUT" bytes_read bytes_new seconds snapshot parent) ||
        { FAIL_MSG="cannot read engine's --json output: $(head -c 300 "$ENGINE_OUT")"; return 1; }
}

run_full() { # run_full CLIENT RUN
    local client=$1 run=$2 clog="$OUT/logs/full.$1.log" repo="$RUNDIR/full-repo"
    rm -rf "$repo"
    case $client in
        engine|engine-file)
            local src=${URI[raw]}
            [[ $client == engine-file ]] && src=$IMG
            engine_backup "$clog" "$repo" "$src" || return 1
            [[ $E_READ == "$SIZE_BYTES" && $E_STORED == "$NONZERO_BYTES" ]] ||
                { FAIL_MSG="engine read $E_READ bytes and stored $E_STORED new; expected $SIZE_BYTES and $NONZERO_BYTES"; return 1; }
            record full "$client" "$run" "$SIZE_BYTES" "$E_READ" "$E_STORED" "$E_SECONDS"
            ;;
        nbdcopy)
            timed "$clog" nbdcopy "${URI[raw]}" null: || return 1
            record full nbdcopy "$run" "$SIZE_BYTES"
            ;;
        borg)
            # A fresh repository, cache, config and security directory per run: no state carries over.
            export BORG_BASE_DIR="$RUNDIR/borg-home" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
            rm -rf "$BORG_BASE_DIR"
            echo "# borg init -e none $repo" >>"$clog"
            borg init -e none "$repo" >>"$clog" 2>&1 || { FAIL_MSG="borg init -e none $repo failed (see $clog)"; return 1; }
            timed "$clog" borg create --read-special --stats "$repo::run$run" "$IMG" || return 1
            record full borg "$run" "$SIZE_BYTES" "" "$(du -sb "$repo/data" | cut -f1)"
            rm -rf "$BORG_BASE_DIR"
            ;;
        disk-direct)
            timed "$clog" sh -c "dd if='$IMG' of='$RUNDIR/disk-direct' bs=4M count=$((NONZERO_BYTES / BLOCK)) oflag=direct status=none && sync -f '$RUNDIR'" || return 1
            record full disk-direct "$run" "$SIZE_BYTES" "" "$NONZERO_BYTES"
            rm -f "$RUNDIR/disk-direct"
            ;;
        disk-write)
            timed "$clog" dd if="$IMG" of="$RUNDIR/disk-write" bs=4M count=$((NONZERO_BYTES / BLOCK)) conv=fdatasync status=none || return 1
            record full disk-write "$run" "$SIZE_BYTES" "" "$NONZERO_BYTES"
            rm -f "$RUNDIR/disk-write"
            ;;
    esac
    rm -rf "$repo"
}

run_incremental() { # run_incremental CLIENT RUN
    local client=$1 run=$2 clog="$OUT/logs/incremental.$1.log" repo="$RUNDIR/incr-repo" layout
    rm -rf "$repo"
    case $client in
        full)
            engine_backup "$clog" "$repo" "${URI[scattered]}#bitmap=b0" || return 1
            # qemu-img convert left the zero blocks unallocated in the qcow2, so a full backup reads the data only.
            if [[ -n $E_PARENT ]] || ((E_READ < NONZERO_BYTES)); then
                FAIL_MSG="the full backup read $E_READ bytes (parent '$E_PARENT'), expected at least $NONZERO_BYTES and no parent"
                return 1
            fi
            record incremental full "$run" "$SIZE_BYTES" "$E_READ" "$E_STORED" "$E_SECONDS"
            ;;
        incr|incr-clustered)
            layout=scattered
            [[ $client == incr-clustered ]] && layout=clustered
            cp -a "$BASE_REPO" "$repo"
            sync
            engine_backup "$clog" "$repo" "${URI[$layout]}#bitmap=b0" || return 1
            [[ -n $E_PARENT ]] || { FAIL_MSG="the incremental backup has no parent: it was full"; return 1; }
            record incremental "$client" "$run" "${DIRTY_BYTES[$layout]}" "$E_READ" "$E_STORED" "$E_SECONDS"
            ;;
    esac
    rm -rf "$repo"
}

RESTORE_CHECKED=""
# export_cpu: the engine export's CPU so far (user + sys, clock ticks), for the server side of the FUSE and NBD runs
# (the client's CPU alone hides the work the export does for it).
export_cpu() { awk '{ print $14 + $15 }' "/proc/${PID[export]}/stat"; }
run_restore() { # run_restore CLIENT RUN
    local client=$1 run=$2 clog="$OUT/logs/restore.$1.log" out="$RUNDIR/restore.raw" cpu0
    rm -f "$out"
    cpu0=$(export_cpu)
    case $client in
        convert-raw) timed "$clog" qemu-img convert -f raw "$IMG" -O raw "$out" || return 1 ;;
        convert-fuse) timed "$clog" qemu-img convert -f raw "$FUSEFILE" -O raw "$out" || return 1 ;;
        convert-nbd) timed "$clog" qemu-img convert -f raw "$EXPORT_URI" -O raw "$out" || return 1 ;;
        engine-restore) timed "$clog" "$ENGINE_BIN" restore --repo "$RESTORE_REPO" --snapshot "$RESTORE_SNAPSHOT" --disk hd0 --to "$out" || return 1 ;;
    esac
    if [[ " $RESTORE_CHECKED " != *" $client "* ]]; then
        # Once per client (the warm-up, or the first run): the output must be the image.
        if ! cmp "$out" "$IMG" >>"$clog" 2>&1; then
            FAIL_MSG="$client's output differs from the image: $(tail -1 "$clog")"
            rm -f "$out"
            return 1
        fi
        RESTORE_CHECKED+=" $client"
        echo "check, restore/$client: output identical to the image (cmp); $(($(stat -c '%b * %B' "$out"))) bytes allocated" >>"$OUT/env.txt"
    fi
    record restore "$client" "$run" "$SIZE_BYTES"
    # RESTORE-SERVER-CPU.tsv: client, run, the export's CPU seconds during the run (0 for the paths without it).
    ((run > 0)) && echo -e "$client\t$run\t$(awk -v a="$cpu0" -v b="$(export_cpu)" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')" >>"$OUT/restore-server-cpu.tsv"
    rm -f "$out"
}

# ---------------------------------------------------------------- set-up and checks

log "results in $OUT; repositories and outputs in $RUNDIR"
precache "$IMG"
if wants full || wants restore; then
    start_qemu_nbd raw raw "$IMG" || die "qemu-nbd did not start: $FAIL_MSG"
fi

if wants restore; then
    log "check backup of the raw export (untimed), kept for the restore case"
    RESTORE_REPO="$RUNDIR/restore-repo"
    if engine_backup "$OUT/logs/check.log" "$RESTORE_REPO" "${URI[raw]}"; then
        RESTORE_SNAPSHOT=$E_SNAPSHOT
        echo "check backup (raw export, fresh repo): read $E_READ, stored $E_STORED new bytes, $E_SECONDS s in-process, ${T_WALL} s wall; snapshot $E_SNAPSHOT; repository $(du -sb "$RESTORE_REPO" | cut -f1) bytes" >>"$OUT/env.txt"
        [[ $E_READ == "$SIZE_BYTES" && $E_STORED == "$NONZERO_BYTES" ]] || fail_case restore "check backup read $E_READ / stored $E_STORED, expected $SIZE_BYTES / $NONZERO_BYTES"
    else
        fail_case restore "check backup failed: $FAIL_MSG"
    fi
fi

if wants restore && [[ -z ${CASEFAIL[restore]:-} ]]; then
    FUSEDIR="$RUNDIR/fuse"
    mkdir -p "$FUSEDIR"
    slog="$OUT/logs/export.server.log"
    echo "# engine export --repo $RESTORE_REPO --snapshot $RESTORE_SNAPSHOT --socket $SOCKDIR/export.sock --fuse $FUSEDIR" >"$slog"
    "$ENGINE_BIN" export --repo "$RESTORE_REPO" --snapshot "$RESTORE_SNAPSHOT" --socket "$SOCKDIR/export.sock" --fuse "$FUSEDIR" >"$SOCKDIR/export.out" 2>>"$slog" &
    PID[export]=$! CHILD[export]=$!
    EXPORT_URI="nbd+unix:///hd0?socket=$SOCKDIR/export.sock"
    FUSEFILE="$FUSEDIR/hd0/disk.raw"
    if wait_nbd_ready export "$EXPORT_URI" "$SIZE_BYTES" "$slog"; then
        for ((i = 0; i < 100; i++)); do [[ -f $FUSEFILE ]] && break; sleep 0.1; done
        [[ -f $FUSEFILE && $(stat -c %s "$FUSEFILE") -eq $SIZE_BYTES ]] || fail_case restore "engine export --fuse: no $SIZE_BYTES-byte $FUSEFILE (see $slog)"
        echo "engine export: $(tr '\t' ' ' <"$SOCKDIR/export.out")" >>"$OUT/env.txt"
    else
        fail_case restore "engine export did not come up: $FAIL_MSG"
    fi
fi

# The incremental case: one clean qcow2 copy of the image with bitmap b0 gets
# the base backup; then its bitmap is cleared and two copies of it are dirtied
# by DIRTY_PERCENT %, each by one qemu-io run:
#   scattered  64 KiB extents at seeded random 64 KiB-aligned offsets (qemu-nbd's
#              default bitmap granularity; almost every 4 MiB chunk is touched)
#   clustered  4 MiB extents at seeded random 4 MiB-aligned offsets (one Engine
#              chunk each, as with PVE's 4 MiB bitmap granularity)
# Both are incremental to the same base snapshot.
CLEAN_IMG="$WORKDIR/backup-bench-$SIZE_BYTES-clean.qcow2"
BASE_REPO="$RUNDIR/base-repo"
declare -A DIRTY_BYTES
CLUSTER_EXTENTS=$(awk -v n=$((SIZE_BYTES / BLOCK)) -v p="$DIRTY_PERCENT" 'BEGIN {
    k = int(n * p / 100 + 0.5); if (k < 1) k = 1; if (k > n) k = n; print k }')

# dirty_copy LAYOUT EXTENT COUNT: copies the clean qcow2, dirties it, serves it as server LAYOUT, checks an
# incremental backup and its restore. Sets DIRTY_BYTES[LAYOUT].
dirty_copy() {
    local layout=$1 extent=$2 count=$3 img="$WORKDIR/backup-bench-$SIZE_BYTES-$1.qcow2" ilog="$OUT/logs/incremental-setup.log" wrote
    log "incremental: $layout copy, $count extents of $extent bytes rewritten"
    cp "$CLEAN_IMG" "$img"
    CLEANUP_FILES+=("$img") # rebuilt by every run; only the raw image is kept
    # Distinct extent-aligned offsets from a seeded generator; a different fill pattern per extent.
    "$PY" - "$((SIZE_BYTES / extent))" "$count" "$DIRTY_SEED" "$extent" >"$img.writes" <<'EOF'
import random, sys
n, k, seed, extent = map(int, sys.argv[1:])
for i, b in enumerate(sorted(random.Random(seed).sample(range(n), k))):
    print(f"write -P 0x{1 + i % 255:02x} {b * extent} {extent}")
print("quit")
EOF
    echo "# qemu-io -f qcow2 $img < $img.writes" >>"$ilog"
    qemu-io -f qcow2 "$img" <"$img.writes" >"$SOCKDIR/qemu-io.log" 2>&1 || die "qemu-io failed (see $SOCKDIR/qemu-io.log)"
    wrote=$(grep -c "wrote $extent/$extent bytes at offset" "$SOCKDIR/qemu-io.log" || true)
    tail -3 "$SOCKDIR/qemu-io.log" >>"$ilog"
    ((wrote == count)) || die "qemu-io wrote $wrote of $count extents into $img"
    start_qemu_nbd "$layout" qcow2 "$img" -B b0 || die "qemu-nbd -B b0 did not start: $FAIL_MSG"
    DIRTY_BYTES[$layout]=$(nbdinfo --map=qemu:dirty-bitmap:b0 "${URI[$layout]}" | awk '$3 == 1 { s += $2 } END { print s + 0 }')
    echo "dirty_bytes_$layout: ${DIRTY_BYTES[$layout]}" >>"$OUT/env.txt"
    echo "dirty ($layout): $count extents of $extent bytes written = $((count * extent)) bytes; nbdinfo --map=qemu:dirty-bitmap:b0 sums ${DIRTY_BYTES[$layout]}" >>"$OUT/env.txt"
    ((DIRTY_BYTES[$layout] == count * extent)) || fail_case incremental "$layout: the bitmap marks ${DIRTY_BYTES[$layout]} bytes dirty, $((count * extent)) were written"
    # Check: an incremental backup into a copy of the base, restored, equals the dirtied image.
    rm -rf "$RUNDIR/check-repo"
    cp -a "$BASE_REPO" "$RUNDIR/check-repo"
    if engine_backup "$ilog" "$RUNDIR/check-repo" "${URI[$layout]}#bitmap=b0"; then
        echo "check incremental ($layout): read $E_READ bytes ($(awk -v a="$E_READ" -v b="${DIRTY_BYTES[$layout]}" 'BEGIN { printf "%.3f", a / b }')x the dirty bytes), stored $E_STORED new bytes, $E_SECONDS s in-process, $T_WALL s wall, parent $E_PARENT" >>"$OUT/env.txt"
        [[ $E_PARENT == "$BASE_SNAPSHOT" ]] || fail_case incremental "$layout: the incremental's parent is '$E_PARENT', expected $BASE_SNAPSHOT"
        if "$ENGINE_BIN" restore --repo "$RUNDIR/check-repo" --snapshot "$E_SNAPSHOT" --disk hd0 --to "$RUNDIR/check.raw" >>"$ilog" 2>&1 &&
            qemu-img compare -f raw -F qcow2 "$RUNDIR/check.raw" "$img" >>"$ilog" 2>&1; then
            echo "check incremental restore ($layout): identical to the dirtied qcow2 (qemu-img compare)" >>"$OUT/env.txt"
        else
            fail_case incremental "$layout: the restored incremental snapshot differs from the dirtied image (see $ilog)"
        fi
    else
        fail_case incremental "$layout: check incremental backup failed: $FAIL_MSG"
    fi
    rm -rf "$RUNDIR/check-repo" "$RUNDIR/check.raw"
    precache "$img"
}

if wants incremental; then
    ilog="$OUT/logs/incremental-setup.log"
    log "incremental: qcow2 copy of the image with bitmap b0, base backup, bitmap cleared"
    rm -f "$CLEAN_IMG"
    CLEANUP_FILES+=("$CLEAN_IMG")
    qemu-img convert -f raw -O qcow2 "$IMG" "$CLEAN_IMG" >>"$ilog" 2>&1 || die "qemu-img convert to $CLEAN_IMG failed (see $ilog)"
    qemu-img bitmap --add --enable "$CLEAN_IMG" b0 >>"$ilog" 2>&1 || die "qemu-img bitmap --add failed (see $ilog)"
    start_qemu_nbd clean qcow2 "$CLEAN_IMG" -B b0 || die "qemu-nbd -B b0 did not start: $FAIL_MSG"
    engine_backup "$ilog" "$BASE_REPO" "${URI[clean]}#bitmap=b0" || die "base backup failed: $FAIL_MSG"
    echo "incremental base backup (qcow2, #bitmap=b0, fresh repo): read $E_READ, stored $E_STORED new bytes, $E_SECONDS s in-process, $T_WALL s wall; snapshot $E_SNAPSHOT" >>"$OUT/env.txt"
    BASE_SNAPSHOT=$E_SNAPSHOT
    stop_server clean || true
    qemu-img bitmap --clear "$CLEAN_IMG" b0 >>"$ilog" 2>&1 || die "qemu-img bitmap --clear failed (see $ilog)"
    dirty_copy scattered "$EXTENT" "$DIRTY_EXTENTS"
    dirty_copy clustered "$BLOCK" "$CLUSTER_EXTENTS"
    rm -f "$CLEAN_IMG"
fi

# ---------------------------------------------------------------- runs

# A restore case whose set-up failed is not timed at all.
RESTORE_BROKEN=${CASEFAIL[restore]:-}

ITEMS=()
if wants full; then for c in "${FULL_LIST[@]}"; do ITEMS+=("full/$c"); done; fi
wants incremental && ITEMS+=(incremental/full incremental/incr incremental/incr-clustered)
wants restore && ITEMS+=(restore/convert-raw restore/convert-fuse restore/convert-nbd restore/engine-restore)

run_item() { # run_item CASE/CLIENT RUN
    local c=${1%%/*} client=${1#*/}
    [[ -z ${DROPPED[$1]:-} ]] || return 0
    [[ $c != restore || -z $RESTORE_BROKEN ]] || return 0
    FAIL_MSG=''
    "run_$c" "$client" "$2" || drop_client "$c" "$client" "run $2 failed: $FAIL_MSG"
}

if ((WARMUP > 0)); then
    log "warm-up: $WARMUP untimed run(s) of each"
    for ((w = 1; w <= WARMUP; w++)); do
        for item in "${ITEMS[@]}"; do run_item "$item" 0; done
    done
fi
for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
    log "round $ROUND/$RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    mapfile -t order < <(rotated "${ITEMS[@]}")
    for item in "${order[@]}"; do run_item "$item" "$ROUND"; done
done

for name in "${!PID[@]}"; do
    alive "${PID[$name]}" || note "the $name server died before the end (see $OUT/logs/$name.server.log)"
    stop_server "$name" || true
done
for c in "${CASE_LIST[@]}"; do printf '%s\t%s\n' "$c" "${CASEFAIL[$c]:-ok}" >>"$STATUS"; done
echo "loadavg at end: $(cat /proc/loadavg)" >>"$OUT/env.txt"

echo >&2
"$PY" "$SCRIPT_DIR/backup_summary.py" "$OUT" | tee "$OUT/summary.md"
echo
echo "Raw per-run numbers: $RAW; environment and checks: $OUT/env.txt; logs: $OUT/logs/"
rc=0
for c in "${CASE_LIST[@]}"; do
    if [[ -n ${CASEFAIL[$c]:-} ]]; then
        echo "$BENCH_NAME: $c failed: ${CASEFAIL[$c]}" >&2
        rc=3
    fi
done
exit "$rc"
