# shellcheck shell=bash disable=SC2034  # (variables here are used by the scripts that source it)
# Helpers shared by the bench/*-compare.sh scripts.
#
# Source it near the top of a script, after `set -euo pipefail` and after
# setting BENCH_NAME (used in messages) and REPO (the repository root):
#
#     BENCH_NAME=nbd-client-compare
#     . "$SCRIPT_DIR/lib.sh"
#
# Besides the functions it sets PATH (Debian's /usr/bin first), PY, the
# associative arrays PID and CHILD (server bookkeeping), the array `missing`
# (filled by need), and CLEANUP_FILES (removed on exit).

# libnbd's Python binding and nbdsh belong to Debian's /usr/bin/python3; keep
# any other python3 (pyenv shims, venvs) from shadowing it.
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"
PY=/usr/bin/python3

die() { echo "$BENCH_NAME: error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
warn() { echo "[$(date +%H:%M:%S)] WARNING: $*" >&2; }

# ---------------------------------------------------------------- tools

missing=()
need() { # need COMMAND DEBIAN-PACKAGE: remembers COMMAND as missing unless it is on PATH
    command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian package: $2)")
}
need_python_module() { # need_python_module MODULE DEBIAN-PACKAGE (for $PY)
    if [[ -x $PY ]] && ! "$PY" -c "import $1" 2>/dev/null; then
        missing+=("Python module $1 for $PY (Debian package: $2)")
    fi
}
need_publish_toolchain() { # what `dotnet publish src/Engine.Cli` (NativeAOT) needs, when ENGINE_BIN is unset
    command -v dotnet >/dev/null 2>&1 || missing+=("dotnet (the .NET 10 SDK; or set ENGINE_BIN to a published engine)")
    need clang clang # the NativeAOT linker driver
    [[ -e /usr/include/zlib.h ]] || missing+=("zlib headers for the NativeAOT link (Debian package: zlib1g-dev)")
}
check_missing() { # exits 1 listing everything need() found missing
    [[ -x $PY ]] || missing+=("$PY (Debian package: python3)")
    if ((${#missing[@]})); then
        printf '%s: error: missing tools:\n' "$BENCH_NAME" >&2
        printf '  %s\n' "${missing[@]}" >&2
        exit 1
    fi
}

# parse_size NAME VALUE: prints VALUE (e.g. 4G, 256M, 1073741824) in bytes, or dies.
parse_size() {
    local b
    b=$(numfmt --from=iec "$2" 2>/dev/null) || die "cannot parse $1=$2 (use e.g. 4G, 256M, 1073741824)"
    echo "$b"
}

# ---------------------------------------------------------------- processes

declare -A PID   # name -> process whose CPU is measured (and signalled)
declare -A CHILD # name -> our own child process, if the server did not daemonize
CLEANUP_FILES=()
SOCKDIR=

alive() { # alive PID: exists and is not a zombie
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [[ ${st:0:1} != Z ]]
}

stop_server() { # stop_server NAME: SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit status if known.
    local name=$1 pid=${PID[$1]:-} child=${CHILD[$1]:-} rc=0 i
    unset "PID[$name]" "CHILD[$name]"
    [[ -n $pid ]] || return 0
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            warn "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    if [[ -n $child ]]; then
        wait "$child" 2>/dev/null || rc=$?
    fi
    return "$rc"
}

# wait_nbd_ready NAME URI SIZE LOG: waits (READY_TIMEOUT s) until the server
# PID[NAME] accepts NBD connections on URI and reports SIZE bytes. Returns 1
# with FAIL_MSG set otherwise.
wait_nbd_ready() {
    local name=$1 uri=$2 want=$3 slog=$4 pid=${PID[$1]} deadline=$((SECONDS + READY_TIMEOUT)) size
    while :; do
        if ! alive "$pid"; then
            FAIL_MSG="$name exited before its socket accepted connections (see $slog: $(tail -2 "$slog" 2>/dev/null | tr '\n' ' '))"
            return 1
        fi
        if size=$(nbdinfo --size "$uri" 2>/dev/null); then
            [[ $size == "$want" ]] && return 0
            FAIL_MSG="$name serves $size bytes, expected $want"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            FAIL_MSG="$name did not accept NBD connections on $uri within ${READY_TIMEOUT}s (see $slog)"
            return 1
        fi
        sleep 0.1
    done
}

# make_sockdir: a short private directory for Unix sockets (their paths are
# limited to 107 bytes, so they cannot live under WORKDIR/OUT). Sets SOCKDIR.
make_sockdir() {
    SOCKDIR=$(mktemp -d /tmp/nbd-bench.XXXXXX)
}

# install_traps: on exit (normal, error or signal) stop every server in PID,
# remove CLEANUP_FILES and SOCKDIR, and keep the exit status.
install_traps() {
    # The traps can fire while stderr is redirected (e.g. into a `time`
    # output file), so cleanup writes to a copy of the original stderr.
    exec {STDERR_FD}>&2
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    trap 'exit 141' PIPE
}
bench_cleanup() {
    local rc=$? name
    trap - EXIT INT TERM HUP
    # stderr may be a closed pipe (`... | head`): failed writes must not stop
    # the cleanup.
    trap '' PIPE
    set +e
    for name in "${!PID[@]}"; do
        log "cleanup: stopping $name (pid ${PID[$name]})" 2>&"$STDERR_FD"
        stop_server "$name" 2>&"$STDERR_FD" || true
    done
    ((${#CLEANUP_FILES[@]} == 0)) || rm -f -- "${CLEANUP_FILES[@]}"
    [[ -z $SOCKDIR ]] || rm -rf -- "$SOCKDIR"
    exit "$rc"
}

# ---------------------------------------------------------------- environment

env_header() { # prints the machine / load / commit lines of env.txt
    echo "date: $(date -Is)"
    echo "host: $(uname -srm)"
    echo "cpus: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
    echo "loadavg at start: $(cat /proc/loadavg)"
    echo "engine commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
    echo "nbdcopy: $(nbdcopy --version | tr '\n' ' ')"
}

# publish_engine LOGDIR: unless ENGINE_BIN is set, publishes src/Engine.Cli
# into $OUT/engine-bin and sets ENGINE_BIN. Sets ENGINE_PROBLEM (and warns)
# if there is no usable engine executable.
publish_engine() {
    local logdir=$1
    ENGINE_PROBLEM=
    if [[ -z $ENGINE_BIN ]]; then
        log "publishing Engine (dotnet publish src/Engine.Cli -c Release -o $OUT/engine-bin)"
        if (cd "$REPO" && dotnet publish src/Engine.Cli -c Release -o "$OUT/engine-bin") >"$logdir/engine-publish.log" 2>&1; then
            ENGINE_BIN="$OUT/engine-bin/engine"
        else
            ENGINE_PROBLEM="dotnet publish failed (see $logdir/engine-publish.log)"
        fi
    fi
    if [[ -z $ENGINE_PROBLEM && ! -x $ENGINE_BIN ]]; then
        ENGINE_PROBLEM="engine executable $ENGINE_BIN not found or not executable"
    fi
    if [[ -n $ENGINE_PROBLEM ]]; then
        warn "engine will be skipped: $ENGINE_PROBLEM"
        return 1
    fi
}

# ---------------------------------------------------------------- test image

# raw_image_path SIZE_BYTES: the shared test image of that size in WORKDIR
raw_image_path() { echo "$WORKDIR/nbd-bench-$1.img"; }

raw_image_ok() { # raw_image_ok PATH SIZE_BYTES: right size and fully allocated
    [[ -f $1 ]] || return 1
    local sz alloc
    sz=$(stat -c %s "$1")
    alloc=$(($(stat -c '%b * %B' "$1")))
    [[ $sz -eq $2 && $alloc -ge $2 ]]
}

# ensure_raw_image PATH SIZE_BYTES: creates (unless a matching one exists and
# FRESH is unset) a non-sparse raw file of SIZE_BYTES filled with one 64 MiB
# block of /dev/urandom repeated, so it has no zero 4 KiB block anywhere.
ensure_raw_image() {
    local img=$1 size=$2 block=$((64 * 1024 * 1024)) blk tmp full rem i
    if [[ -z ${FRESH:-} ]] && raw_image_ok "$img" "$size"; then
        log "reusing test image $img ($size bytes; set FRESH=1 to regenerate)"
        return 0
    fi
    log "creating test image $img ($size bytes: one 64 MiB /dev/urandom block, repeated)"
    blk="$img.random-block"
    head -c "$block" /dev/urandom >"$blk"
    # A zero 4 KiB block in 64 MiB of urandom is practically impossible, but
    # the point of the file is to have none: check.
    "$PY" - "$blk" <<'EOF' || die "random block contains an all-zero 4 KiB block; rerun"
import sys
data = open(sys.argv[1], "rb").read()
z = bytes(4096)
sys.exit(1 if any(data[i:i + 4096] == z[:len(data[i:i + 4096])] for i in range(0, len(data), 4096)) else 0)
EOF
    tmp="$img.tmp"
    : >"$tmp"
    full=$((size / block))
    rem=$((size % block))
    for ((i = 0; i < full; i++)); do cat "$blk" >>"$tmp"; done
    ((rem == 0)) || head -c "$rem" "$blk" >>"$tmp"
    sync "$tmp"
    mv "$tmp" "$img"
    rm -f "$blk"
    raw_image_ok "$img" "$size" || die "test image $img has the wrong size or is sparse"
}

# precache FILE: reads FILE (twice) so that it is in the page cache
# ensure_alt4m_image IMG SIZE_BYTES: the backup benchmarks' image, unless a matching one (with its IMG.ok marker)
# exists and FRESH is unset: SIZE_BYTES of alternating 4 MiB blocks of fresh /dev/urandom (every block different, so
# nothing dedups) and of written zeros (not holes: the file is fully allocated).
ensure_alt4m_image() {
    local img=$1 size=$2 block=$((4 * 1024 * 1024))
    if [[ -z ${FRESH:-} && -f $img.ok && -f $img && $(stat -c %s "$img") -eq $size ]]; then
        log "reusing $img (set FRESH=1 to regenerate)"
        return 0
    fi
    log "creating $img: $size bytes, 4 MiB of /dev/urandom then 4 MiB of zeros, repeated"
    rm -f "$img" "$img.ok"
    "$PY" - "$img.tmp" "$size" "$block" <<'PYEOF' || die "cannot create $img"
import os, sys
path, size, block = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
zero = bytes(block)
with open(path, "wb") as f:
    for _ in range(size // (2 * block)):
        f.write(os.urandom(block))
        f.write(zero)
    f.flush()
    os.fsync(f.fileno())
PYEOF
    mv "$img.tmp" "$img"
    [[ $(($(stat -c '%b * %B' "$img"))) -ge $size ]] || die "$img is sparse; its zeros must be written"
    echo "4 MiB urandom / 4 MiB zeros, $size bytes, $(date -Is)" >"$img.ok"
}

precache() {
    cat "$1" >/dev/null
    cat "$1" >/dev/null
}

# ---------------------------------------------------------------- results

# note MESSAGE: something the reader of the figures should know (stderr and $OUT/env.txt)
note() {
    warn "$1"
    echo "note: $1" >>"$OUT/env.txt"
}

# json_field FILE FIELD...: prints the fields of an engine --json output, space-separated
json_field() {
    "$PY" - "$@" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join("" if d.get(k) is None else str(d[k]) for k in sys.argv[2:]))
EOF
}

# ---------------------------------------------------------------- scheduling

# rotated ITEM...: prints the arguments, one a line, rotated left by ROUND-1,
# so that every item takes every position in turn over the rounds.
rotated() {
    local n=$# k=$(((ROUND - 1) % $#)) i
    local a=("$@")
    for ((i = 0; i < n; i++)); do printf '%s\n' "${a[(i + k) % n]}"; done
}

# make_pki DIR: a CA, DIR/server (ca-cert.pem, server-cert.pem, server-key.pem
# for localhost and 127.0.0.1) and DIR/client (ca-cert.pem, client-cert.pem, client-key.pem),
# the layout engine, nbdkit, qemu and libnbd share. ECDSA P-256 keys.
make_pki() {
    local dir=$1
    mkdir -p "$dir/ca" "$dir/server" "$dir/client"
    printf 'cn = bench CA\nca\ncert_signing_key\nexpiration_days = 30\n' >"$dir/ca.info"
    printf 'cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nsigning_key\nencryption_key\nexpiration_days = 30\n' >"$dir/server.info"
    printf 'cn = bench-client\ntls_www_client\nsigning_key\nencryption_key\nexpiration_days = 30\n' >"$dir/client.info"
    certtool --generate-privkey --key-type ecdsa --no-text --outfile "$dir/ca/ca-key.pem" 2>/dev/null || return 1
    certtool --generate-self-signed --load-privkey "$dir/ca/ca-key.pem" --template "$dir/ca.info" --no-text --outfile "$dir/ca/ca-cert.pem" 2>/dev/null || return 1
    local who
    for who in server client; do
        certtool --generate-privkey --key-type ecdsa --no-text --outfile "$dir/$who/$who-key.pem" 2>/dev/null || return 1
        certtool --generate-certificate --load-privkey "$dir/$who/$who-key.pem" --load-ca-certificate "$dir/ca/ca-cert.pem" \
            --load-ca-privkey "$dir/ca/ca-key.pem" --template "$dir/$who.info" --no-text --outfile "$dir/$who/$who-cert.pem" 2>/dev/null || return 1
        cp "$dir/ca/ca-cert.pem" "$dir/$who/"
    done
}
