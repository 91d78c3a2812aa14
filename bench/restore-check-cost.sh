#!/usr/bin/env bash
# What checking every chunk against the snapshot's index costs a restore (issue 11, item 1).
#
# The same disk image is backed up by the engine before the check (BASE, index format 1) and by this tree's engine
# (index format 2, which records each chunk's payload checksum), then `engine restore` runs on both, interleaved,
# RUNS times each; the medians are compared. A third row restores BASE's format-1 repository with this tree's engine:
# such an index has no payload checksums, so every chunk is rehashed (SHA-256), the documented cost of old snapshots.
#
#   BASE=739cdc6 SIZE=1G RUNS=7 bash bench/restore-check-cost.sh
#
# BASE: the commit before the change (built from `git archive` in a scratch folder, not a worktree).
# SIZE: the image (random data: chunks are stored raw, so decompression does not hide the check's cost).
# TARGET_DIR: where restores are written (default the scratch folder on /var/tmp; each is deleted after). Not /dev/shm:
#   the engine before the change took every /dev/… path for a block device (issue 11, item 6).
# BASE_DLL / NEW_DLL: already built engine.dll files, to skip the builds.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE=${BASE:-739cdc6}
SIZE=${SIZE:-2G}
RUNS=${RUNS:-5}
WORK=$(mktemp -d /var/tmp/engine-restore-bench.XXXXXX)
TARGET_DIR=${TARGET_DIR:-$WORK}
trap 'rm -rf "$WORK"; rm -f "$TARGET_DIR"/engine-restore-bench-*' EXIT
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

build() { # build SOURCE_DIR: prints the engine.dll a Release build of src/Engine.Cli produces
    dotnet build "$1/src/Engine.Cli" -c Release >/dev/null
    find "$1/src/Engine.Cli/bin/Release" -name engine.dll | head -1
}

if [[ -z ${BASE_DLL:-} ]]; then
    log "building $BASE"
    mkdir "$WORK/base"
    git -C "$REPO_ROOT" archive "$BASE" | tar -x -C "$WORK/base"
    BASE_DLL=$(build "$WORK/base")
fi
NEW_DLL=${NEW_DLL:-$(log "building this tree"; build "$REPO_ROOT")}

log "image: $SIZE of random data"
head -c "$(numfmt --from=iec "$SIZE")" /dev/urandom >"$WORK/disk.raw"
for side in base new; do
    dll=$BASE_DLL
    [[ $side == new ]] && dll=$NEW_DLL
    dotnet "$dll" backup --repo "$WORK/repo-$side" --vmid 100 --disk "scsi0=$WORK/disk.raw" >/dev/null
done
snapshot() { echo "vm/100/$(ls "$WORK/repo-$1/snapshots/vm/100")"; }

restore() { # restore DLL REPO_SIDE: prints the seconds one restore took (repository files warm in the page cache)
    local target="$TARGET_DIR/engine-restore-bench-$$.raw" start end
    start=$(date +%s.%N)
    dotnet "$1" restore --repo "$WORK/repo-$2" --snapshot "$(snapshot "$2")" --disk scsi0 --to "$target" >/dev/null
    end=$(date +%s.%N)
    cmp -s "$target" "$WORK/disk.raw" || { echo "restore from $2 differs" >&2; exit 1; }
    rm -f "$target"
    echo "$end - $start" | bc -l
}

declare -A times
for run in $(seq 1 "$RUNS"); do
    times[base]+=" $(restore "$BASE_DLL" base)"
    times[new]+=" $(restore "$NEW_DLL" new)"
    times[new-v1]+=" $(restore "$NEW_DLL" base)"
    log "run $run: base ${times[base]##* } new ${times[new]##* } new-on-format-1 ${times[new-v1]##* }"
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
bytes=$(stat -c %s "$WORK/disk.raw")
printf '%s\t%s\t%s\t%s\n' case median_s GB_per_s vs_base
base_median=$(median <<<"${times[base]}")
for case in base new new-v1; do
    m=$(median <<<"${times[$case]}")
    printf '%s\t%.3f\t%.2f\t%.3f\n' "$case" "$m" "$(echo "$bytes / $m / 1000000000" | bc -l)" "$(echo "$m / $base_median" | bc -l)"
done
