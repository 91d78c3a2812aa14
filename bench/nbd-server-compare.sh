#!/usr/bin/env bash
# Compare Engine's NBD server with nbdkit, nbd-server and qemu-nbd.
#
# For every server: serve one page-cached, non-zero, non-sparse raw file
# read-only over a Unix socket, copy it with `nbdcopy URI null:` (default
# options, i.e. multi-conn) and with `nbdcopy --connections=1`, RUNS times
# each, recording wall time and the CPU time the server process consumed;
# then (engine and nbdkit by default) measure 4 KiB random-read latency with
# one request in flight (bench/randread_latency.py).
#
# All servers are started up front and stay up side by side (an idle server
# costs nothing); the timed runs are interleaved round-robin, one run per
# server and mode per round, rotating the order each round, so that load from
# the rest of a noisy machine spreads over all servers alike. Medians are
# reported.
#
# Server CPU for a run = the change in utime+stime+cutime+cstime (fields
# 14-17 of /proc/PID/stat, / CLK_TCK) of the server process across the run.
# engine, nbdkit (-f) and qemu-nbd are single multi-threaded processes started
# by this script, and utime/stime cover all their threads. nbd-server cannot
# stay in the foreground usefully (its -d serves one connection, then exits),
# so it daemonizes and PID is the daemon's (from its -p pid file); it forks a
# child per connection, and the script waits until the daemon has no children
# left (all exited and reaped) before reading the "after" numbers, so the
# children's CPU is in the daemon's cutime/cstime.
#
# With --tls (TLS=1) every server serves over X.509 TLS and requires it
# (engine --tls require, nbdkit --tls=require, qemu-nbd --tls-creds), with
# credentials certtool makes in OUT/pki; clients use nbds+unix://…
# ?tls-certificates=DIR. nbd-server is left out and the latency test is off by
# default in that mode.
#
# Usage: bench/nbd-server-compare.sh [options]      (see --help)
# Every option also has an environment variable: SIZE, RUNS, SERVERS, WORKDIR,
# OUT, ENGINE_BIN, WARMUP, LAT_SERVERS, LAT_COUNT, LAT_WARMUP, LAT_RUNS,
# READY_TIMEOUT, FRESH, TLS.
#
# Output: a Markdown summary on stdout (also OUT/summary.md), per-run numbers
# in OUT/raw.tsv and OUT/latency.tsv, server/client logs in OUT/logs/, tool
# versions and machine details in OUT/env.txt.
# Exit status: 0 if every server completed, 3 if any failed (the others are
# still measured and reported), 1 on setup errors (missing tools, bad options).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_NAME=nbd-server-compare
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh" # PATH, PY, die/log/warn, need, servers, traps, image, rotated

ALL_SERVERS="engine nbdkit nbd-server qemu-nbd"
SIZE=${SIZE:-4G}
RUNS=${RUNS:-5}
SERVERS=${SERVERS:-$ALL_SERVERS}
WORKDIR=${WORKDIR:-/var/tmp/nbd-bench}
OUT=${OUT:-}
ENGINE_BIN=${ENGINE_BIN:-}
WARMUP=${WARMUP:-1}
LAT_SERVERS=${LAT_SERVERS:-"engine nbdkit"}
LAT_COUNT=${LAT_COUNT:-20000}
LAT_WARMUP=${LAT_WARMUP:-1000}
LAT_RUNS=${LAT_RUNS:-3}
READY_TIMEOUT=${READY_TIMEOUT:-30}
FRESH=${FRESH:-}
TLS=${TLS:-}

usage() {
    cat <<EOF
Usage: $0 [options]

  --size N          bytes to serve and copy, with K/M/G/T suffix (IEC)  [SIZE=$SIZE]
  --runs N          timed nbdcopy runs per server and mode              [RUNS=$RUNS]
  --servers "LIST"  subset of: $ALL_SERVERS            [SERVERS]
  --workdir DIR     where the test image lives (reused across runs)     [WORKDIR=$WORKDIR]
  --out DIR         results directory      [OUT=bench/results/YYYYmmdd-HHMMSS]
  --engine-bin PATH use this engine executable instead of publishing    [ENGINE_BIN]
  --warmup N        untimed nbdcopy runs per server before timing       [WARMUP=$WARMUP]
  --lat-servers "LIST"  servers for the 4 KiB QD1 latency test          [LAT_SERVERS="$LAT_SERVERS"]
  --lat-count N     timed reads per latency run                         [LAT_COUNT=$LAT_COUNT]
  --lat-warmup N    untimed reads per latency run                       [LAT_WARMUP=$LAT_WARMUP]
  --lat-runs N      latency runs per server (median reported)           [LAT_RUNS=$LAT_RUNS]
  --ready-timeout S seconds to wait for a server's socket               [READY_TIMEOUT=$READY_TIMEOUT]
  --fresh           regenerate the test image even if a matching one exists [FRESH=1]
  --tls             serve and read over X.509 TLS (servers: engine nbdkit qemu-nbd) [TLS=1]
EOF
}

while (($#)); do
    case $1 in
        --size) SIZE=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --servers) SERVERS=$2; shift 2 ;;
        --workdir) WORKDIR=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --engine-bin) ENGINE_BIN=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --lat-servers) LAT_SERVERS=$2; shift 2 ;;
        --lat-count) LAT_COUNT=$2; shift 2 ;;
        --lat-warmup) LAT_WARMUP=$2; shift 2 ;;
        --lat-runs) LAT_RUNS=$2; shift 2 ;;
        --ready-timeout) READY_TIMEOUT=$2; shift 2 ;;
        --fresh) FRESH=1; shift ;;
        --tls) TLS=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "nbd-server-compare: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

# ---------------------------------------------------------------- arguments

if [[ -n $TLS ]]; then
    # nbd-server's TLS needs its own configuration and gains nothing here; latency over TLS is not the question.
    [[ $SERVERS == "$ALL_SERVERS" ]] && SERVERS="engine nbdkit qemu-nbd"
    LAT_RUNS=${LAT_RUNS_TLS:-0}
fi

SIZE_BYTES=$(parse_size SIZE "$SIZE")
((SIZE_BYTES >= 4096)) || die "SIZE must be at least 4096 bytes"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
[[ $LAT_RUNS =~ ^[0-9]+$ ]] || die "LAT_RUNS must be a non-negative integer"

read -r -a SERVER_LIST <<<"$SERVERS"
((${#SERVER_LIST[@]})) || die "SERVERS is empty"
for s in "${SERVER_LIST[@]}"; do
    [[ " $ALL_SERVERS " == *" $s "* ]] || die "unknown server '$s' in SERVERS (known: $ALL_SERVERS)"
done
wants() { [[ " ${SERVER_LIST[*]} " == *" $1 "* ]]; }
wants_latency() { [[ " $LAT_SERVERS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- tools

need nbdcopy libnbd-bin
need nbdinfo libnbd-bin
need numfmt coreutils
need getconf libc-bin
need pgrep procps
wants nbdkit && need nbdkit nbdkit
wants nbd-server && need nbd-server nbd-server
wants qemu-nbd && need qemu-nbd qemu-utils
[[ -n $TLS ]] && need certtool gnutls-bin
if wants engine && [[ -z $ENGINE_BIN ]]; then need_publish_toolchain; fi
need_latency=
for s in "${SERVER_LIST[@]}"; do wants_latency "$s" && need_latency=1; done
if [[ -n $need_latency && $LAT_RUNS -gt 0 ]]; then
    need_python_module nbd python3-libnbd
fi
check_missing
if wants nbdkit && ! nbdkit file --version >/dev/null 2>&1; then
    die "nbdkit's file plugin does not load (Debian package: nbdkit)"
fi

# ---------------------------------------------------------------- output

[[ -n $OUT ]] || OUT="$REPO/bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
make_sockdir
CLK_TCK=$(getconf CLK_TCK)

RAW="$OUT/raw.tsv"
LAT="$OUT/latency.tsv"
STATUS="$OUT/status.tsv"
printf 'server\tmode\trun\tsize_bytes\twall_s\tgbps\tserver_cpu_s\tserver_user_s\tserver_sys_s\tclient_user_s\tclient_sys_s\n' >"$RAW"
printf 'server\trun\tcount\tp50_us\tp90_us\tp99_us\tp999_us\tmean_us\tmin_us\tmax_us\n' >"$LAT"
printf 'server\tstatus\n' >"$STATUS"
printf '%q ' "$0" "$@" >"$OUT/command.txt"
{
    echo "TLS=${TLS:-0} SIZE=$SIZE RUNS=$RUNS SERVERS=\"$SERVERS\" WARMUP=$WARMUP LAT_SERVERS=\"$LAT_SERVERS\" LAT_COUNT=$LAT_COUNT LAT_WARMUP=$LAT_WARMUP LAT_RUNS=$LAT_RUNS"
} >>"$OUT/command.txt"

# ---------------------------------------------------------------- server bookkeeping

declare -A URI    # server -> NBD URI
declare -A FAILED # server -> why it was dropped
# (PID: server -> process whose CPU is measured; CHILD: our own child, if the
# server did not daemonize. Both from lib.sh, which stops them all on exit.)
install_traps

set_status() { # set_status SERVER STATUS...
    printf '%s\t%s\n' "$1" "${*:2}" >>"$STATUS"
}

# ---------------------------------------------------------------- environment record

{
    env_header
    wants nbdkit && echo "nbdkit: $(nbdkit --version)"
    wants nbd-server && echo "nbd-server: $(nbd-server -V 2>&1 | head -1)"
    wants qemu-nbd && echo "qemu-nbd: $(qemu-nbd --version | head -1)"
    true
} >"$OUT/env.txt"

# ---------------------------------------------------------------- engine binary

ENGINE_PROBLEM=
if wants engine && publish_engine "$OUT/logs"; then
    echo "engine binary: $ENGINE_BIN" >>"$OUT/env.txt"
fi

# ---------------------------------------------------------------- test image

IMG=$(raw_image_path "$SIZE_BYTES")
ensure_raw_image "$IMG" "$SIZE_BYTES"
log "pre-reading the image into the page cache"
precache "$IMG"
echo "image: $IMG, $(fincore -b -n -o RES "$IMG" 2>/dev/null | tr -d ' ' || echo '?') bytes resident in page cache of $SIZE_BYTES" >>"$OUT/env.txt"

# ---------------------------------------------------------------- TLS credentials

PKI=
if [[ -n $TLS ]]; then
    PKI="$OUT/pki"
    make_pki "$PKI"
    echo "TLS: X.509, ECDSA P-256 credentials in $PKI" >>"$OUT/env.txt"
fi

# ---------------------------------------------------------------- per-process CPU

# Prints "utime stime cutime cstime" (clock ticks) of PID: fields 14-17 of
# /proc/PID/stat. utime/stime cover all threads of the process, including
# threads that have exited; cutime/cstime cover children that have exited AND
# been waited for (nbd-server forks one child per connection and reaps it).
cpu_ticks() {
    local st f
    st=$(cat "/proc/$1/stat") || return 1
    st=${st##*) }          # drop "pid (comm) ", comm may contain spaces
    read -r -a f <<<"$st"  # f[0] is field 3 (state), so field N is f[N-3]
    echo "${f[11]} ${f[12]} ${f[13]} ${f[14]}"
}

# wait_children_gone NAME PID: waits until PID has no child processes (live
# or zombie), so that the children's CPU has been folded into PID's
# cutime/cstime. Only nbd-server has any (one per connection).
wait_children_gone() {
    local i
    for ((i = 0; i < 200; i++)); do
        pgrep -P "$2" >/dev/null 2>&1 || return 0
        sleep 0.05
    done
    warn "$1 (pid $2) still has child processes after 10 s: $(pgrep -P "$2" | tr '\n' ' '); their CPU is not counted"
}

# ---------------------------------------------------------------- servers

start_server() { # start_server NAME; sets PID, CHILD, URI; returns 1 with FAIL_MSG set on failure
    local name=$1 sock="$SOCKDIR/$1.sock" slog="$OUT/logs/$1.server.log"
    local engine_tls=() nbdkit_tls=() qemu_tls=()
    URI[$name]="nbd+unix:///?socket=$sock"
    if [[ -n $TLS ]]; then
        URI[$name]="nbds+unix:///?socket=$sock&tls-certificates=$PKI/client"
        engine_tls=(--tls require --tls-certificates "$PKI/server")
        nbdkit_tls=(--tls=require --tls-certificates "$PKI/server")
        qemu_tls=(--object "tls-creds-x509,id=tls0,dir=$PKI/server,endpoint=server" --tls-creds tls0)
    fi
    rm -f "$sock"
    case $name in
        engine)
            "$ENGINE_BIN" serve "$IMG" --socket "$sock" --read-only "${engine_tls[@]}" >"$slog" 2>&1 &
            PID[$name]=$! CHILD[$name]=$!
            ;;
        nbdkit)
            # -f: foreground, so $! is the server. Default 16 worker threads.
            nbdkit -f -r -U "$sock" "${nbdkit_tls[@]}" file "$IMG" >"$slog" 2>&1 &
            PID[$name]=$! CHILD[$name]=$!
            ;;
        qemu-nbd)
            # -r plus --shared>1 makes qemu-nbd advertise multi-conn (and
            # accept nbdcopy's parallel connections); --persistent keeps it
            # alive between clients.
            qemu-nbd -f raw -r -k "$sock" --persistent --shared=8 "${qemu_tls[@]}" "$IMG" >"$slog" 2>&1 &
            PID[$name]=$! CHILD[$name]=$!
            ;;
        nbd-server)
            # nbd-server's -d ("do not fork") serves exactly ONE connection in
            # the main process and then exits, which rules out multi-conn and
            # repeated runs. So it runs normally: it daemonizes (the process we
            # start exits at once), the daemon writes its PID to the -p file
            # and forks one child per client connection.
            local conf="$OUT/logs/nbd-server.conf" pidf="$SOCKDIR/nbd-server.pid" i
            cat >"$conf" <<EOF
[generic]
    unixsock = $sock
[disk]
    exportname = $IMG
    readonly = true
EOF
            URI[$name]="nbd+unix:///disk?socket=$sock"
            rm -f "$pidf"
            if ! nbd-server -C "$conf" -p "$pidf" >"$slog" 2>&1; then
                FAIL_MSG="nbd-server exited with an error (see $slog)"
                return 1
            fi
            for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
                [[ -s $pidf ]] && break
                sleep 0.1
            done
            [[ -s $pidf ]] || { FAIL_MSG="nbd-server wrote no pid file within ${READY_TIMEOUT}s"; return 1; }
            PID[$name]=$(cat "$pidf")
            ;;
    esac
    # Ready once the socket accepts NBD connections and reports the right size.
    wait_nbd_ready "$name" "${URI[$name]}" "$SIZE_BYTES" "$slog"
}

drop() { # drop NAME: record FAIL_MSG as the reason, stop the server
    local name=$1
    FAILED[$name]=${FAIL_MSG:-failed}
    warn "$name dropped: ${FAILED[$name]}"
    stop_server "$name" >/dev/null 2>&1 || true
}

active() { [[ -z ${FAILED[$1]:-} ]]; }

warm_up() { # warm_up NAME: WARMUP untimed default-mode copies
    local name=$1 run vlog="$SOCKDIR/verbose.log"
    for ((run = 1; run <= WARMUP; run++)); do
        if ((run == 1)); then
            # The first warm-up copy is verbose, to record how many connections
            # and threads nbdcopy chose against this server. (The debug output
            # makes it slow, but cutting it short is not an option: nbdkit
            # 1.32 aborts, "raw_send_socket: Assertion `sock >= 0' failed",
            # when a multi-conn client is killed mid-copy.)
            if ! nbdcopy -v "${URI[$name]}" null: 2>"$vlog"; then
                FAIL_MSG="warm-up nbdcopy failed: $(grep -v 'libnbd: debug' "$vlog" | tail -3 | tr '\n' ' ')"
                return 1
            fi
            echo "nbdcopy default mode against $name: $(grep -m1 -o 'connections=.*' "$vlog" || echo '?')" >>"$OUT/env.txt"
            rm -f "$vlog"
        elif ! nbdcopy "${URI[$name]}" null: 2>>"$OUT/logs/$name.nbdcopy.log"; then
            FAIL_MSG="warm-up nbdcopy failed (see $OUT/logs/$name.nbdcopy.log)"
            return 1
        fi
    done
}

TIMEFORMAT='%3R %3U %3S'

run_copy() { # run_copy NAME MODE RUN; appends a row to raw.tsv; returns 1 with FAIL_MSG set on failure
    local name=$1 mode=$2 run=$3 pid=${PID[$1]} args=() b a t0 t1 real cu cs
    local tf="$SOCKDIR/time" clog="$OUT/logs/$1.nbdcopy.log"
    [[ $mode == conn1 ]] && args=(--connections=1)
    wait_children_gone "$name" "$pid"
    b=$(cpu_ticks "$pid") || { FAIL_MSG="$name is gone"; return 1; }
    t0=$(date +%s.%N)
    if ! { time nbdcopy "${args[@]}" "${URI[$name]}" null: 2>>"$clog"; } 2>"$tf"; then
        FAIL_MSG="nbdcopy ${args[*]} ${URI[$name]} null: failed (see $clog)"
        return 1
    fi
    t1=$(date +%s.%N)
    wait_children_gone "$name" "$pid"
    a=$(cpu_ticks "$pid") || { FAIL_MSG="$name died during the copy"; return 1; }
    read -r real cu cs <"$tf"
    awk -v s="$name" -v m="$mode" -v r="$run" -v n="$SIZE_BYTES" -v t0="$t0" -v t1="$t1" \
        -v b="$b" -v a="$a" -v hz="$CLK_TCK" -v cu="$cu" -v cs="$cs" 'BEGIN {
            split(b, B, " "); split(a, A, " ")
            user = ((A[1] + A[3]) - (B[1] + B[3])) / hz
            sys  = ((A[2] + A[4]) - (B[2] + B[4])) / hz
            wall = t1 - t0
            printf "%s\t%s\t%d\t%s\t%.6f\t%.4f\t%.2f\t%.2f\t%.2f\t%.3f\t%.3f\n",
                s, m, r, n, wall, n / wall / 1e9, user + sys, user, sys, cu, cs
        }' | tee -a "$RAW" |
        awk -F'\t' '{ printf "    %-10s %-8s run %d: %6.3f s %6.2f GB/s  server CPU %5.2f s (user %.2f sys %.2f)  nbdcopy CPU %5.2f s\n",
                      $1, $2, $3, $5, $6, $7, $8, $9, $10 + $11 }' >&2
}

run_latency() { # run_latency NAME RUN; appends a row to latency.tsv
    local name=$1 run=$2 json llog="$OUT/logs/$1.latency.log"
    if ! json=$("$PY" "$SCRIPT_DIR/randread_latency.py" --json --count "$LAT_COUNT" --warmup "$LAT_WARMUP" \
        --seed "$run" "${URI[$name]}" 2>>"$llog"); then
        FAIL_MSG="randread_latency.py failed against $name (see $llog)"
        return 1
    fi
    echo "$json" >>"$llog"
    "$PY" -c '
import json, sys
d = json.loads(sys.argv[3])
print("\t".join([sys.argv[1], sys.argv[2], str(d["count"])] +
      ["%.1f" % d[k] for k in ("p50_us", "p90_us", "p99_us", "p999_us", "mean_us", "min_us", "max_us")]))
' "$name" "$run" "$json" | tee -a "$LAT" |
        awk -F'\t' '{ printf "    %-10s latency run %d: p50 %s us  p99 %s us\n", $1, $2, $4, $6 }' >&2
}

# The servers run side by side (idle ones cost nothing) and the runs are
# interleaved round-robin, rotating the order every round, so that load from
# the rest of a noisy machine hits all servers alike rather than whichever
# happened to be measured at the time.
log "results in $OUT"
for s in "${SERVER_LIST[@]}"; do
    FAIL_MSG=
    if [[ $s == engine && -n $ENGINE_PROBLEM ]]; then
        FAIL_MSG=$ENGINE_PROBLEM
        drop "$s"
    elif start_server "$s"; then
        log "$s: ready on ${URI[$s]} (pid ${PID[$s]})"
        if [[ $s == engine ]]; then
            printed=$(grep -o 'nbd[+a-z]*://[^[:space:]]*' "$OUT/logs/engine.server.log" | head -1 || true)
            if [[ -n $printed ]]; then log "engine: prints URI $printed"; else warn "engine printed no NBD URI on stdout"; fi
        fi
    else
        drop "$s"
    fi
done

precache "$IMG"
if ((WARMUP > 0)); then
    log "warm-up: $WARMUP untimed nbdcopy run(s) per server"
    for s in "${SERVER_LIST[@]}"; do
        active "$s" || continue
        FAIL_MSG=
        warm_up "$s" || drop "$s"
    done
fi

for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
    log "round $ROUND/$RUNS: nbdcopy URI null: and nbdcopy --connections=1 URI null:"
    mapfile -t order < <(rotated "${SERVER_LIST[@]}")
    for mode in default conn1; do
        for s in "${order[@]}"; do
            active "$s" || continue
            FAIL_MSG=
            run_copy "$s" "$mode" "$ROUND" || drop "$s"
        done
    done
done

for ((ROUND = 1; ROUND <= LAT_RUNS; ROUND++)); do
    log "latency round $ROUND/$LAT_RUNS: $LAT_COUNT timed + $LAT_WARMUP warm-up 4 KiB random reads, QD1"
    mapfile -t order < <(rotated "${SERVER_LIST[@]}")
    for s in "${order[@]}"; do
        active "$s" && wants_latency "$s" || continue
        FAIL_MSG=
        run_latency "$s" "$ROUND" || drop "$s"
    done
done

for s in "${SERVER_LIST[@]}"; do
    active "$s" || continue
    rc=0
    stop_server "$s" || rc=$?
    if [[ $s == engine && $rc -ne 0 ]]; then
        # The figures stand, but the CLI contract (exit 0 on SIGTERM) is broken.
        FAILED[$s]="exited with status $rc on SIGTERM (expected 0); its figures are still reported"
        warn "engine ${FAILED[$s]}"
    fi
done
for s in "${SERVER_LIST[@]}"; do
    set_status "$s" "${FAILED[$s]:-ok}"
done
echo "loadavg at end: $(cat /proc/loadavg)" >>"$OUT/env.txt"

echo >&2
"$PY" "$SCRIPT_DIR/nbd_bench_summary.py" "$OUT" | tee "$OUT/summary.md"
echo
echo "Raw per-run numbers: $RAW; latency: $LAT; environment: $OUT/env.txt"
rc=0
for s in "${SERVER_LIST[@]}"; do
    if [[ -n ${FAILED[$s]:-} ]]; then
        echo "nbd-server-compare: $s failed: ${FAILED[$s]}" >&2
        rc=3
    fi
done
exit "$rc"
