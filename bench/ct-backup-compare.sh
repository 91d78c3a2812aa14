#!/usr/bin/env bash
# Container backup benchmarks of issue 5: Engine's container backup and restore
# (`engine backup-ct`, `engine restore-ct`) side by side with what Proxmox VE
# does for a container on directory storage (vzdump's tar | zstd, pct restore's
# tar x), on the same tree in the same run.
#
# Source: the directory tree SRC (default /usr/share), read only.
# Clients:
#   backup/engine-full   engine backup-ct --repo FRESH --vmid 900 --dir SRC --json   (a fresh repository)
#   unchanged/engine     the same into the base repository, which already holds a
#                        backup of SRC (the unchanged-tree case; every run adds one):
#                        files unchanged since the newest snapshot are not read
#   unchanged/engine-full-read
#                        the same with --full-read: every file read and hashed again
#                        (what the unchanged case cost before change detection)
#   backup/tar-zstd      vzdump's pipeline for an LXC container (PVE/VZDump/LXC.pm,
#                        PVE::Storage::Plugin::COMMON_TAR_FLAGS, PVE/VZDump.pm's
#                        compressor_info with the default `zstd: 1`):
#                          tar cpf - --totals FLAGS -C SRC . | zstd --rsyncable --threads=1 > OUT.tar.zst
#   restore/engine       engine restore-ct --repo BASE --snapshot ID --to FRESHDIR --json
#   restore/tar          pct restore's extraction (PVE/LXC/Create.pm, restore_tar_archive):
#                          tar xpf - --zstd --totals FLAGS -C FRESHDIR --skip-old-files
#                              --anchored --exclude ./dev/* < BASE.tar.zst
# FLAGS: --one-file-system -p --sparse --numeric-owner --acls --xattrs
#        --xattrs-include=user.* --xattrs-include=security.capability
#        --warning=no-file-ignored --warning=no-xattr-write
# Every timed command is followed, inside its timing, by `sync -f` of its output
# directory, so both sides end with their output durable (engine's backup already
# is when it returns). Before every run the page cache is dropped
# (`sync; echo 3 > /proc/sys/vm/drop_caches`), so every client reads SRC (and the
# repository or archive) from disk alike.
#
# The unchanged cases' peer is backup/tar-zstd: vzdump has no incremental mode, it
# archives the unchanged tree in full every time.
#
# Runs are interleaved round-robin: every round runs each client once, in an
# order that rotates every round, after WARMUP untimed rounds. Medians over RUNS
# rounds are reported with Engine/peer ratios.
#
# Correctness, outside the timing: the first engine restore and the first tar
# restore are compared with SRC by `diff -r --no-dereference` (exit 0) and by a
# listing of every entry's type, mode, owner, group, size (not directories'),
# mtime (seconds) and symlink target.
#
# Usage: bench/ct-backup-compare.sh [options]      (see --help)
# Output: Markdown tables on stdout (also OUT/summary.md; re-render with
# /usr/bin/python3 bench/ct_backup_summary.py OUT), per-run rows in OUT/raw.tsv,
# OUT/env.txt, OUT/logs/.
# Exit status: 0 if every client completed and both restores matched SRC, 3 if
# not (the others are still measured), 1 on setup errors.
# shellcheck disable=SC2317  # (functions called through traps)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=ct-backup-compare
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh" # PATH, PY, die/log/warn, need, publish_engine, traps, rotated

ALL_CLIENTS="backup/engine-full unchanged/engine unchanged/engine-full-read backup/tar-zstd restore/engine restore/tar"
SRC=${SRC:-/usr/share}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
CLIENTS=${CLIENTS:-$ALL_CLIENTS}
ZSTD_THREADS=${ZSTD_THREADS:-1}
DROP_CACHES=${DROP_CACHES:-1}
WORKDIR=${WORKDIR:-/var/tmp/ct-bench}
OUT=${OUT:-}
ENGINE_BIN=${ENGINE_BIN:-}
VMID=900

usage() {
    cat <<EOF
Usage: $0 [options]

  --src DIR           the tree to back up (read only)                              [SRC=$SRC]
  --runs N            timed runs per client                                        [RUNS=$RUNS]
  --warmup N          untimed rounds before timing                                 [WARMUP=$WARMUP]
  --clients "LIST"    subset of: $ALL_CLIENTS
                                                                                   [CLIENTS]
  --zstd-threads N    vzdump's 'zstd' option (its default 1; 0 = half the cores)    [ZSTD_THREADS=$ZSTD_THREADS]
  --no-drop-caches    keep the page cache between runs (noted in the output)       [DROP_CACHES=0]
  --workdir DIR       repositories, archives, restores (removed at the end); keep
                      it on the disk being measured                                [WORKDIR=$WORKDIR]
  --out DIR           results directory               [OUT=bench/results/YYYYmmdd-HHMMSS-ct]
  --engine-bin PATH   use this engine executable instead of publishing             [ENGINE_BIN]
EOF
}

while (($#)); do
    case $1 in
        --src) SRC=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        --zstd-threads) ZSTD_THREADS=$2; shift 2 ;;
        --no-drop-caches) DROP_CACHES=0; shift ;;
        --workdir) WORKDIR=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --engine-bin) ENGINE_BIN=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$BENCH_NAME: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

# ---------------------------------------------------------------- arguments

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
[[ $ZSTD_THREADS =~ ^[0-9]+$ ]] || die "ZSTD_THREADS must be a non-negative integer"
[[ $DROP_CACHES == [01] ]] || die "DROP_CACHES must be 0 or 1"
[[ -d $SRC ]] || die "SRC=$SRC is not a directory"
SRC=$(cd "$SRC" && pwd)
read -r -a ITEMS <<<"$CLIENTS"
((${#ITEMS[@]})) || die "CLIENTS is empty"
for c in "${ITEMS[@]}"; do
    [[ " $ALL_CLIENTS " == *" $c "* ]] || die "unknown client '$c' in CLIENTS (known: $ALL_CLIENTS)"
done
wants() { [[ " ${ITEMS[*]} " == *" $1 "* ]]; }
if ((ZSTD_THREADS == 0)); then
    ZSTD_THREADS=$((($(nproc) + 1) / 2)) # as vzdump does for zstd: 0
fi
if ((DROP_CACHES)) && ! [[ -w /proc/sys/vm/drop_caches ]]; then
    die "cannot write /proc/sys/vm/drop_caches (run as root, or DROP_CACHES=0 to keep the page cache)"
fi

# ---------------------------------------------------------------- tools

need tar tar
need zstd zstd
need diff diffutils
need find findutils
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (Debian package: time)")
[[ -n $ENGINE_BIN ]] || need_publish_toolchain
check_missing

# ---------------------------------------------------------------- output

[[ -n $OUT ]] || OUT="$REPO/bench/results/$(date +%Y%m%d-%H%M%S)-ct"
mkdir -p "$OUT/logs" "$WORKDIR"
OUT=$(cd "$OUT" && pwd)
WORKDIR=$(cd "$WORKDIR" && pwd)
make_sockdir # private scratch for time/stdout files
RUNDIR="$WORKDIR/run.$$" # repositories, archives and restores of this run; removed on exit
mkdir -p "$RUNDIR"
install_traps
trap 'bench_cleanup_run' EXIT
bench_cleanup_run() {
    local rc=$?
    set +e
    rm -rf -- "$RUNDIR"
    rmdir -- "$WORKDIR" 2>/dev/null
    (exit "$rc")
    bench_cleanup
}

RAW="$OUT/raw.tsv"
STATUS="$OUT/status.tsv"
printf 'case\tclient\trun\twall_s\tuser_s\tsys_s\tcpu_s\tbytes_stored\ton_disk_bytes\tinproc_s\tloadavg1\n' >"$RAW"
printf 'client\tstatus\n' >"$STATUS"
printf '%q ' "$0" "$@" >"$OUT/command.txt"
echo >>"$OUT/command.txt"
echo "SRC=$SRC RUNS=$RUNS WARMUP=$WARMUP CLIENTS=\"$CLIENTS\" ZSTD_THREADS=$ZSTD_THREADS DROP_CACHES=$DROP_CACHES WORKDIR=$WORKDIR" >>"$OUT/command.txt"

declare -A FAILED # client -> failure messages
fail() { # fail CLIENT MESSAGE
    warn "$1: $2"
    FAILED[$1]="${FAILED[$1]:+${FAILED[$1]}; }$2"
}

# The flags vzdump and pct restore give tar (PVE::Storage::Plugin::COMMON_TAR_FLAGS).
TAR_FLAGS=(--one-file-system -p --sparse --numeric-owner --acls --xattrs '--xattrs-include=user.*'
    --xattrs-include=security.capability --warning=no-file-ignored --warning=no-xattr-write)

src_entries=$(find "$SRC" -mindepth 1 | wc -l)
src_files=$(find "$SRC" -type f | wc -l)
src_bytes=$(du -sb --apparent-size "$SRC" | cut -f1)
{
    env_header
    echo "tar: $(tar --version | head -1)"
    echo "zstd: $(zstd --version)"
    echo "time: $(/usr/bin/time --version 2>&1 | head -1)"
    echo "src: $SRC ($(df -PT "$SRC" | awk 'NR == 2 {print $2 " on " $1}'))"
    echo "src_entries: $src_entries"
    echo "src_files: $src_files"
    echo "src_bytes: $src_bytes"
    echo "workdir: $WORKDIR ($(df -PT "$WORKDIR" | awk 'NR == 2 {print $2 " on " $1 ", " $5 " used"}'))"
    echo "zstd_threads: $ZSTD_THREADS"
    if ((DROP_CACHES)); then
        echo "page cache: dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every run: every client reads from disk"
    else
        echo "page cache: kept between runs (DROP_CACHES=0): reads may come from memory"
    fi
} >"$OUT/env.txt"
[[ $(df -P "$SRC" | awk 'NR == 2 {print $1}') == $(df -P "$WORKDIR" | awk 'NR == 2 {print $1}') ]] ||
    note "SRC and WORKDIR are on different filesystems"

ENGINE_PROBLEM=
publish_engine "$OUT/logs" || die "no engine to measure: $ENGINE_PROBLEM"
echo "engine binary: $ENGINE_BIN ($("$ENGINE_BIN" --version 2>/dev/null || echo 'version unknown'))" >>"$OUT/env.txt"

# ---------------------------------------------------------------- one run

TF="$SOCKDIR/time"
SO="$SOCKDIR/stdout"

drop_caches() {
    ((DROP_CACHES)) || return 0
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

# timed LOG SYNCDIR CMD...: drops the page cache, then times CMD followed by
# `sync -f SYNCDIR` (nanosecond clock around both; /usr/bin/time for CMD's CPU,
# its children included). CMD's stdout goes to $SO. Sets T_WALL T_USER T_SYS
# T_LOAD; returns 1 with FAIL_MSG set if CMD fails.
timed() {
    local clog=$1 syncdir=$2 t0 t1 rc=0
    shift 2
    drop_caches
    T_LOAD=$(cut -d' ' -f1 /proc/loadavg)
    echo "# $(date +%T) $* && sync -f $syncdir" >>"$clog"
    t0=$(date +%s.%N)
    /usr/bin/time -f '%e %U %S' -o "$TF" "$@" >"$SO" 2>>"$clog" || rc=$?
    ((rc != 0)) || sync -f "$syncdir" || rc=$?
    t1=$(date +%s.%N)
    cat "$SO" >>"$clog"
    if ((rc != 0)); then
        FAIL_MSG="\`$*\` exited with status $rc: $(grep -v '^#' "$clog" | tail -3 | tr '\n' ' ')"
        return 1
    fi
    T_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    read -r _ T_USER T_SYS < <(tail -1 "$TF")
}

# record CASE CLIENT RUN [BYTES_STORED ON_DISK INPROC]: one row of raw.tsv (RUN 0, a warm-up: none)
record() {
    (($3 > 0)) || return 0
    awk -v c="$1" -v cl="$2" -v r="$3" -v w="$T_WALL" -v u="$T_USER" -v s="$T_SYS" \
        -v bs="${4:-}" -v od="${5:-}" -v ip="${6:-}" -v la="$T_LOAD" 'BEGIN {
            printf "%s\t%s\t%d\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n", c, cl, r, w, u, s, u + s, bs, od, ip, la
        }' | tee -a "$RAW" |
        awk -F'\t' '{ printf "    %-8s %-13s run %d: %8.2f s  CPU %6.2f s (user %.2f sys %.2f)%s  load %s\n",
                      $1, $2, $3, $4, $7, $5, $6, ($8 == "" ? "" : "  stored " $8 " on disk " $9), $11 }' >&2
}

# engine_backup LOG REPO [OPTION...]: a timed engine backup-ct of SRC; sets E_SNAPSHOT E_STORED E_NEW E_READ E_SECONDS E_ENTRIES
engine_backup() {
    local clog=$1 repo=$2
    shift 2
    timed "$clog" "$repo" "$ENGINE_BIN" backup-ct --repo "$repo" --vmid "$VMID" --dir "$SRC" --json "$@" || return 1
    read -r E_SNAPSHOT E_STORED E_NEW E_READ E_SECONDS E_ENTRIES < <(
        json_field "$SO" snapshot bytes_stored bytes_new bytes_read seconds entries) ||
        { FAIL_MSG="cannot read engine's --json output: $(head -c 300 "$SO")"; return 1; }
}

# tar_backup LOG ARCHIVE: a timed vzdump-style archive of SRC
tar_backup() {
    # shellcheck disable=SC2016  # (expanded by the inner bash)
    timed "$1" "$(dirname "$2")" bash -o pipefail -c \
        'out=$1 threads=$2; shift 2; tar cpf - --totals "$@" | zstd -q --rsyncable --threads="$threads" >"$out"' \
        tar-zstd "$2" "$ZSTD_THREADS" "${TAR_FLAGS[@]}" -C "$SRC" .
}

# compare_tree DIR LOG: DIR must equal SRC (diff -r, and a metadata listing); returns 1 with FAIL_MSG set if not
listing() { # listing DIR: type, mode, uid, gid, size (not for directories), mtime s, link target of every entry
    (cd "$1" && find . -mindepth 1 -printf '%P\t%y\t%m\t%U\t%G\t%s\t%Ts\t%l\n') |
        awk -F'\t' -v OFS='\t' '$2 == "d" { $6 = "-" } { print }' | LC_ALL=C sort
}
compare_tree() {
    local dir=$1 clog=$2
    echo "# diff -r --no-dereference $SRC $dir" >>"$clog"
    if ! diff -r --no-dereference "$SRC" "$dir" >>"$clog" 2>&1; then
        FAIL_MSG="diff -r --no-dereference $SRC $dir found differences (see $clog)"
        return 1
    fi
    listing "$SRC" >"$SOCKDIR/src.list"
    listing "$dir" >"$SOCKDIR/out.list"
    echo "# metadata listings (type mode uid gid size mtime link) of $SRC and $dir" >>"$clog"
    if ! diff "$SOCKDIR/src.list" "$SOCKDIR/out.list" >>"$clog" 2>&1; then
        FAIL_MSG="the type/mode/owner/size/mtime listing of $dir differs from $SRC's (see $clog)"
        return 1
    fi
}

declare -A CHECKED # restore client -> compared with SRC
run_backup() { # run_backup CLIENT RUN
    local client=$1 run=$2 clog="$OUT/logs/backup.$1.log" repo="$RUNDIR/full-repo" archive="$RUNDIR/tar/backup.tar.zst" before
    case $client in
        engine-full)
            rm -rf "$repo"
            engine_backup "$clog" "$repo" || return 1
            ((E_NEW > 0)) || { FAIL_MSG="a backup into a fresh repository stored no new bytes"; return 1; }
            record backup engine-full "$run" "$E_STORED" "$(du -sb "$repo" | cut -f1)" "$E_SECONDS"
            rm -rf "$repo"
            ;;
        tar-zstd)
            mkdir -p "$RUNDIR/tar"
            rm -f "$archive"
            tar_backup "$clog" "$archive" || return 1
            record backup tar-zstd "$run" "$(stat -c %s "$archive")" "$(stat -c %s "$archive")"
            rm -f "$archive"
            ;;
    esac
}

run_unchanged() { # run_unchanged CLIENT RUN
    local client=$1 run=$2 clog="$OUT/logs/unchanged.$1.log" before options=()
    [[ $client == engine-full-read ]] && options=(--full-read)
    before=$(du -sb "$BASE_REPO" | cut -f1)
    engine_backup "$clog" "$BASE_REPO" "${options[@]}" || return 1
    if [[ $client == engine ]] && ((E_READ != 0)); then
        FAIL_MSG="the backup of the unchanged tree read $E_READ bytes"
        return 1
    fi
    # on disk: what this backup added to the repository (its catalog and snapshot files)
    record unchanged "$client" "$run" "$E_STORED" "$(($(du -sb "$BASE_REPO" | cut -f1) - before))" "$E_SECONDS"
}

run_restore() { # run_restore CLIENT RUN
    local client=$1 run=$2 clog="$OUT/logs/restore.$1.log" to="$RUNDIR/restore-$1"
    rm -rf "$to"
    mkdir -p "$to"
    case $client in
        engine)
            timed "$clog" "$to" "$ENGINE_BIN" restore-ct --repo "$BASE_REPO" --snapshot "$BASE_SNAPSHOT" --to "$to" --json || return 1
            ;;
        tar)
            # shellcheck disable=SC2016  # (expanded by the inner bash)
            timed "$clog" "$to" bash -o pipefail -c \
                'archive=$1 to=$2; shift 2; tar xpf - --zstd --totals "$@" -C "$to" --skip-old-files --anchored --exclude "./dev/*" <"$archive"' \
                tar-x "$BASE_ARCHIVE" "$to" "${TAR_FLAGS[@]}" || return 1
            ;;
    esac
    if [[ -z ${CHECKED[$client]:-} ]]; then
        # The first restore of each (a warm-up, unless WARMUP=0) is compared with SRC.
        CHECKED[$client]=1
        log "check: comparing the $client restore with $SRC (diff -r --no-dereference, metadata listing)"
        if compare_tree "$to" "$OUT/logs/check.restore-$client.log"; then
            echo "check, restore/$client: identical to $SRC (diff -r --no-dereference; type/mode/owner/size/mtime listing)" >>"$OUT/env.txt"
        else
            rm -rf "$to"
            return 1
        fi
    fi
    record restore "$client" "$run" "" "$(du -sb "$to" | cut -f1)"
    rm -rf "$to"
}

# ---------------------------------------------------------------- set-up

log "results in $OUT; repositories, archives and restores in $RUNDIR"
log "SRC $SRC: $src_entries entries, $src_files files, $src_bytes bytes"
BASE_REPO="$RUNDIR/base-repo"
BASE_ARCHIVE="$RUNDIR/base.tar.zst"
if wants unchanged/engine || wants unchanged/engine-full-read || wants restore/engine; then
    log "base backup (untimed): engine backup-ct into $BASE_REPO"
    engine_backup "$OUT/logs/setup.log" "$BASE_REPO" || die "the base backup failed: $FAIL_MSG"
    BASE_SNAPSHOT=$E_SNAPSHOT
    echo "base backup: snapshot $E_SNAPSHOT, $E_ENTRIES entries, read $E_READ, stored $E_STORED bytes ($E_NEW new), $E_SECONDS s in-process, $T_WALL s wall; repository $(du -sb "$BASE_REPO" | cut -f1) bytes" >>"$OUT/env.txt"
fi
if wants restore/tar; then
    log "base archive (untimed): tar | zstd into $BASE_ARCHIVE"
    tar_backup "$OUT/logs/setup.log" "$BASE_ARCHIVE" || die "the base archive failed: $FAIL_MSG"
    echo "base archive: $(stat -c %s "$BASE_ARCHIVE") bytes, $T_WALL s wall" >>"$OUT/env.txt"
fi

# ---------------------------------------------------------------- runs

run_item() { # run_item CASE/CLIENT RUN
    local c=${1%%/*} client=${1#*/}
    [[ -z ${FAILED[$1]:-} ]] || return 0
    FAIL_MSG=''
    "run_$c" "$client" "$2" || fail "$1" "run $2: $FAIL_MSG"
}

if ((WARMUP > 0)); then
    log "warm-up: $WARMUP untimed round(s)"
    for ((w = 1; w <= WARMUP; w++)); do
        for item in "${ITEMS[@]}"; do run_item "$item" 0; done
    done
fi
for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
    log "round $ROUND/$RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    mapfile -t order < <(rotated "${ITEMS[@]}")
    for item in "${order[@]}"; do run_item "$item" "$ROUND"; done
done

for item in "${ITEMS[@]}"; do printf '%s\t%s\n' "$item" "${FAILED[$item]:-ok}" >>"$STATUS"; done
echo "loadavg at end: $(cat /proc/loadavg)" >>"$OUT/env.txt"

echo >&2
"$PY" "$SCRIPT_DIR/ct_backup_summary.py" "$OUT" | tee "$OUT/summary.md"
echo
echo "Raw per-run numbers: $RAW; environment and checks: $OUT/env.txt; logs: $OUT/logs/"
rc=0
for item in "${ITEMS[@]}"; do
    if [[ -n ${FAILED[$item]:-} ]]; then
        echo "$BENCH_NAME: $item failed: ${FAILED[$item]}" >&2
        rc=3
    fi
done
exit "$rc"
