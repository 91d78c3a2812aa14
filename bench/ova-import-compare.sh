#!/usr/bin/env bash
# OVA import benchmark.
#  1. Import a streamOptimized OVA (SIZE capacity, half of it data) to FORMAT (raw or qcow2):
#       engine:  engine ova import OVA --to DIR --format FORMAT        (one pass, no temporary copy)
#       pve:     tar -x -C TMP -f OVA disk.vmdk && qemu-img convert -f vmdk -O FORMAT TMP/disk.vmdk OUT && rm TMP/disk.vmdk
#  2. Read an OVA's inner raw disk over NBD without extracting it:
#       engine:  engine ova serve OVA --socket S
#       nbdkit:  nbdkit -U S --filter=tar file OVA tar-entry=disk.raw
#     each read by `nbdcopy URI null:` and by `qemu-img convert -O raw URI FILE`.
# Medians of RUNS timed runs, in alternating order. Usage: bench/ova-import-compare.sh [--help]
set -euo pipefail
BENCH_NAME=ova-import-compare
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

SIZE=${SIZE:-4G}
RUNS=${RUNS:-5}
WORKDIR=${WORKDIR:-/var/tmp/ova-bench}
OUT=${OUT:-$REPO/bench/results/ova-$(date +%Y%m%d-%H%M%S)}
ENGINE_BIN=${ENGINE_BIN:-}
NBD=${NBD:-1}
FORMAT=${FORMAT:-raw}
READY_TIMEOUT=${READY_TIMEOUT:-60}

if [[ ${1:-} == --help || ${1:-} == -h ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF
Environment: SIZE=$SIZE RUNS=$RUNS WORKDIR=$WORKDIR OUT=bench/results/ova-DATE ENGINE_BIN=(publish) NBD=1 (0 skips part 2)
  FORMAT=$FORMAT (raw or qcow2: the import's output format on both sides)
The source images are kept in WORKDIR and reused (generating the streamOptimized VMDK takes qemu-img minutes).
EOF
    exit 0
fi

need qemu-img qemu-utils
need tar tar
need nbdcopy libnbd-bin
need nbdinfo libnbd-bin
need nbdkit nbdkit
need /usr/bin/time time
check_missing
[[ -n $ENGINE_BIN ]] || command -v dotnet >/dev/null 2>&1 || die "dotnet (the .NET 10 SDK) is needed unless ENGINE_BIN is set"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
bytes=$(parse_size SIZE "$SIZE")
((bytes % (2 << 20) == 0)) || die "SIZE must be a multiple of 2 MiB"

mkdir -p "$OUT/logs" "$WORKDIR"
install_traps
make_sockdir
env_header >"$OUT/env.txt"
echo "size: $bytes, runs: $RUNS, format: $FORMAT" >>"$OUT/env.txt"
publish_engine "$OUT/logs" || die "no engine executable: $ENGINE_PROBLEM"
echo "engine binary: $ENGINE_BIN" >>"$OUT/env.txt"

# ---------------------------------------------------------------- inputs

raw=$WORKDIR/src-$bytes.raw
vmdk=$WORKDIR/disk-$bytes.vmdk
stream_ova=$WORKDIR/stream-$bytes.ova
flat_ova=$WORKDIR/flat-$bytes.ova
if [[ ! -f $raw ]]; then
    log "writing $raw: 1 MiB of random data, then a 1 MiB hole, and so on (half data)"
    "$PY" - "$raw" "$bytes" <<'PY'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
block = os.urandom(64 << 20)
with open(path + ".tmp", "wb") as f:
    for i in range(size >> 20):
        if i % 2 == 0:
            o = (i * 7919 << 10) % (63 << 20)
            f.write(block[o:o + (1 << 20)])
        else:
            f.seek(1 << 20, 1)
    f.truncate(size)
os.rename(path + ".tmp", path)
PY
    rm -f "$vmdk" "$stream_ova" "$flat_ova"
fi
if [[ ! -f $vmdk ]]; then
    log "qemu-img convert -O vmdk -o subformat=streamOptimized (slow: it deflates every grain)"
    qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$raw" "$vmdk.tmp"
    mv "$vmdk.tmp" "$vmdk"
    rm -f "$stream_ova"
fi

# ovf DISK-HREF FORMAT-URI: a VMware-style descriptor for one disk of $bytes bytes on SCSI 0:0.
ovf() {
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References><File ovf:href="$1" ovf:id="file1"/></References>
  <DiskSection><Info>Disks</Info><Disk ovf:capacity="$((bytes >> 20))" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="$2"/></DiskSection>
  <VirtualSystem ovf:id="bench">
    <Info>A VM</Info><Name>bench</Name>
    <OperatingSystemSection ovf:id="94" vmw:osType="ubuntu64Guest"><Info>Ubuntu</Info></OperatingSystemSection>
    <VirtualHardwareSection><Info>Hardware</Info>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
      <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
EOF
}

# package OVA FORMAT-URI MEMBER SOURCE: descriptor, SHA256 manifest, disk (ovftool's order), ustar.
package() {
    local ova=$1 uri=$2 member=$3 source=$4 stage
    stage=$(mktemp -d "$WORKDIR/stage.XXXXXX")
    ovf "$member" "$uri" >"$stage/bench.ovf"
    ln "$source" "$stage/$member" 2>/dev/null || cp "$source" "$stage/$member"
    (cd "$stage" && for f in bench.ovf "$member"; do echo "SHA256($f)= $(sha256sum "$f" | cut -d' ' -f1)"; done) >"$stage/bench.mf"
    tar --format=gnu -C "$stage" -cf "$ova.tmp" bench.ovf bench.mf "$member"
    mv "$ova.tmp" "$ova"
    rm -rf "$stage"
}
[[ -f $stream_ova ]] || { log "packaging $stream_ova"; package "$stream_ova" "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" disk.vmdk "$vmdk"; }
if ((NBD)) && [[ ! -f $flat_ova ]]; then
    log "packaging $flat_ova"
    package "$flat_ova" "http://en.wikipedia.org/wiki/Byte" disk.raw "$raw"
fi

# ---------------------------------------------------------------- helpers

TIMES=$OUT/times.tsv
printf 'test\ttool\trun\twall_s\tuser_s\tsys_s\n' >"$TIMES"

# timed TEST TOOL RUN CMD...: runs CMD under /usr/bin/time, appends a line to times.tsv.
timed() {
    local test=$1 tool=$2 run=$3 tfile
    shift 3
    tfile=$(mktemp)
    if ! /usr/bin/time -f '%e\t%U\t%S' -o "$tfile" "$@" >>"$OUT/logs/$test-$tool.log" 2>&1; then
        rm -f "$tfile"
        die "$tool failed in $test run $run (see $OUT/logs/$test-$tool.log)"
    fi
    printf '%s\t%s\t%s\t%s\n' "$test" "$tool" "$run" "$(tail -1 "$tfile")" >>"$TIMES"
    rm -f "$tfile"
}

engine_out=$WORKDIR/out-engine
pve_tmp=$WORKDIR/pve-tmp
[[ $FORMAT == raw || $FORMAT == qcow2 ]] || die "FORMAT must be raw or qcow2, not $FORMAT"
pve_out=$WORKDIR/out-pve.$FORMAT
reset_outputs() {
    rm -rf "$engine_out" "$pve_tmp" "$pve_out"
    mkdir -p "$engine_out" "$pve_tmp"
    sync
}
CLEANUP_FILES+=("$pve_out")

# ---------------------------------------------------------------- 1. import

cat "$stream_ova" >/dev/null
log "import: one untimed run of each, compared with qemu-img compare"
reset_outputs
"$ENGINE_BIN" ova import "$stream_ova" --to "$engine_out" --format "$FORMAT" >"$OUT/logs/check-engine.log" 2>&1 || die "engine ova import failed (see $OUT/logs/check-engine.log)"
qemu-img convert -f vmdk -O "$FORMAT" "$vmdk" "$pve_out"
[[ $FORMAT == raw ]] || qemu-img check -q "$engine_out/disk.$FORMAT" || die "engine's qcow2 fails qemu-img check"
qemu-img compare -f "$FORMAT" -F "$FORMAT" "$engine_out/disk.$FORMAT" "$pve_out" >"$OUT/logs/compare.log" || die "engine's output differs from qemu-img's (see $OUT/logs/compare.log)"
echo "allocated: engine $(du -h "$engine_out/disk.$FORMAT" | cut -f1), qemu-img $(du -h "$pve_out" | cut -f1)" >>"$OUT/env.txt"
log "import: $RUNS runs each (alternating order)"
for ((run = 1; run <= RUNS; run++)); do
    order=(engine pve)
    ((run % 2)) || order=(pve engine)
    for tool in "${order[@]}"; do
        reset_outputs
        if [[ $tool == engine ]]; then
            timed import engine "$run" "$ENGINE_BIN" ova import "$stream_ova" --to "$engine_out" --format "$FORMAT"
        else
            timed import pve "$run" sh -c 'tar -x --no-same-owner -C "$1" -f "$2" disk.vmdk && qemu-img convert -f vmdk -O "$4" "$1/disk.vmdk" "$3" && rm -f "$1/disk.vmdk"' sh "$pve_tmp" "$stream_ova" "$pve_out" "$FORMAT"
        fi
    done
done
reset_outputs

# ---------------------------------------------------------------- 2. NBD export of the inner raw disk

if ((NBD)); then
    cat "$flat_ova" >/dev/null
    sock=$SOCKDIR/ova.sock
    nbd_target=$WORKDIR/nbd-out.raw
    CLEANUP_FILES+=("$nbd_target")
    start() { # start TOOL: serves disk.raw of $flat_ova on $sock, sets URI
        rm -f "$sock"
        if [[ $1 == engine ]]; then
            "$ENGINE_BIN" ova serve "$flat_ova" --socket "$sock" >"$OUT/logs/serve-engine.log" 2>&1 &
            URI="nbd+unix:///?socket=$sock"
        else
            nbdkit -f -r -U "$sock" --filter=tar file "$flat_ova" tar-entry=disk.raw >"$OUT/logs/serve-nbdkit.log" 2>&1 &
            URI="nbd+unix:///?socket=$sock"
        fi
        PID[$1]=$!
        CHILD[$1]=$!
        wait_nbd_ready "$1" "$URI" "$bytes" "$OUT/logs/serve-$1.log" || die "$FAIL_MSG"
    }
    log "nbd: $RUNS runs each"
    for ((run = 1; run <= RUNS; run++)); do
        order=(engine nbdkit)
        ((run % 2)) || order=(nbdkit engine)
        for tool in "${order[@]}"; do
            start "$tool"
            timed nbdcopy "$tool" "$run" nbdcopy "$URI" null:
            rm -f "$nbd_target"
            sync
            timed qemu-img "$tool" "$run" qemu-img convert -f raw -O raw "$URI" "$nbd_target"
            if ((run == 1)); then
                qemu-img compare -f raw -F raw "$nbd_target" "$raw" >>"$OUT/logs/compare.log" || die "$tool served different data"
            fi
            stop_server "$tool" || true
        done
    done
fi

# ---------------------------------------------------------------- summary

"$PY" - "$TIMES" "$bytes" >"$OUT/summary.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
size = int(sys.argv[2])
def med(test, tool, key):
    values = [float(r[key]) for r in rows if r["test"] == test and r["tool"] == tool]
    return statistics.median(values) if values else None
print("| test | tool | median wall s | median user+sys s | ratio (wall, other/engine) |")
print("|---|---|---|---|---|")
pairs = {"import": ("engine", "pve"), "nbdcopy": ("engine", "nbdkit"), "qemu-img": ("engine", "nbdkit")}
for test, (ours, theirs) in pairs.items():
    a, b = med(test, ours, "wall_s"), med(test, theirs, "wall_s")
    if a is None:
        continue
    for tool in (ours, theirs):
        wall = med(test, tool, "wall_s")
        cpu = med(test, tool, "user_s") + med(test, tool, "sys_s")
        ratio = f"{b / a:.2f}x" if tool == theirs and a else ""
        print(f"| {test} | {tool} | {wall:.2f} | {cpu:.2f} | {ratio} |")
PY
cat "$OUT/env.txt" >&2
cat "$OUT/summary.md"
log "raw times: $TIMES"
