#!/usr/bin/env bash
# The main job: an incremental VM backup and restore on the embedded default (a local repository directory).
# Makes a sample disk with qemu-img, exports it with a dirty bitmap through qemu-nbd, runs a full backup, writes
# changes, runs an incremental backup, restores both snapshots (directly, and as PVE would through a FUSE file and
# qemu-img convert), checks them byte for byte against the disk, and prints what each backup read, reused and stored.
set -euo pipefail
cd "$(dirname "$0")"
export PATH=/usr/bin:$PATH   # Debian's python3 and tools first
work=$(mktemp -d /var/tmp/engine-demo.XXXXXX)
qemu_nbd=""
cleanup() {
  [ -n "$qemu_nbd" ] && kill "$qemu_nbd" 2>/dev/null || true
  [ -n "${exporter:-}" ] && kill "$exporter" 2>/dev/null && wait "$exporter" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }

say "publishing engine"
dotnet publish src/Engine.Cli -c Release -o "$work/bin" --nologo -v quiet >/dev/null
engine="$work/bin/engine"
repo="$work/repo"

say "making a 1 GiB sample disk (qcow2, 192 MiB of data) with a persistent dirty bitmap"
truncate -s 1G "$work/seed.raw"
for at in 0 300 700; do
  dd if=/dev/urandom of="$work/seed.raw" bs=1M count=64 seek="$at" conv=notrunc status=none
done
qemu-img convert -f raw -O qcow2 "$work/seed.raw" "$work/disk.qcow2"
rm -f "$work/seed.raw"
qemu-img bitmap --add --enable "$work/disk.qcow2" demo

export_disk() {
  qemu-nbd -r -t -f qcow2 -B demo -x drive-scsi0 -k "$work/nbd.sock" "$work/disk.qcow2" &
  qemu_nbd=$!
  for _ in $(seq 100); do [ -S "$work/nbd.sock" ] && break; sleep 0.05; done
}
stop_export() { kill "$qemu_nbd"; wait "$qemu_nbd" 2>/dev/null || true; qemu_nbd=""; rm -f "$work/nbd.sock"; }
uri="nbd+unix:///drive-scsi0?socket=$work/nbd.sock"

say "full backup (qemu-nbd -B demo)"
export_disk
"$engine" backup --repo "$repo" --vmid 100 --disk "drive-scsi0=$uri#bitmap=demo" --json > "$work/full.json"
stop_export
qemu-img convert -f qcow2 -O raw "$work/disk.qcow2" "$work/expected-full.raw"

say "the guest writes: 40 scattered 64 KiB writes and one 8 MiB write"
qemu-img bitmap --clear "$work/disk.qcow2" demo   # the backup succeeded: the bitmap starts over
commands=()
for i in $(seq 0 39); do commands+=(-c "write -P $((i + 1)) $(( (i * 25 + 3) * 1048576 + 65536 * (i % 7) )) 64k"); done
commands+=(-c "write -P 0x5a 500M 8M")
qemu-io -f qcow2 "${commands[@]}" "$work/disk.qcow2" >/dev/null
qemu-img convert -f qcow2 -O raw "$work/disk.qcow2" "$work/expected-incremental.raw"

say "incremental backup (same bitmap: only dirty regions are read)"
export_disk
dirty=$(nbdinfo --map=qemu:dirty-bitmap:demo "$uri" | awk '$3 == 1 { s += $2 } END { print s + 0 }')
"$engine" backup --repo "$repo" --vmid 100 --disk "drive-scsi0=$uri#bitmap=demo" --json > "$work/incremental.json"
stop_export

say "snapshots"
"$engine" snapshots --repo "$repo"
full_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["snapshot"])' "$work/full.json")
incr_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["snapshot"])' "$work/incremental.json")

say "restoring both snapshots and comparing byte for byte"
"$engine" restore --repo "$repo" --snapshot "$full_id" --disk drive-scsi0 --to "$work/restored-full.raw"
qemu-img compare -f raw -F raw "$work/expected-full.raw" "$work/restored-full.raw"
"$engine" restore --repo "$repo" --snapshot "$incr_id" --disk drive-scsi0 --to "$work/restored-incremental.raw"
qemu-img compare -f raw -F raw "$work/expected-incremental.raw" "$work/restored-incremental.raw"

say "restoring the incremental snapshot as PVE does: qemu-img convert from a FUSE file"
mkdir -p "$work/fuse"
"$engine" export --repo "$repo" --snapshot "$incr_id" --socket "$work/export.sock" --fuse "$work/fuse" > "$work/export.out" &
exporter=$!
for _ in $(seq 200); do [ -s "$work/export.out" ] && break; sleep 0.05; done
file=$(cut -f3 "$work/export.out")
qemu-img info -f raw "$file" | head -n 3
qemu-img create -q -f raw "$work/pve-target.raw" "$(stat -c %s "$file")"   # PVE allocates the volume first
qemu-img convert -p -n -f raw "$file" -O raw "$work/pve-target.raw" | tr "\r" "\n" | tail -n 1
qemu-img compare -f raw -F raw "$work/expected-incremental.raw" "$work/pve-target.raw"
kill -TERM "$exporter"; wait "$exporter"; exporter=""

say "verifying the repository"
"$engine" verify --repo "$repo"

say "summary"
python3 - "$work/full.json" "$work/incremental.json" "$dirty" <<'PY'
import json, sys
def size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
rows = [("full", json.load(open(sys.argv[1]))), ("incremental", json.load(open(sys.argv[2])))]
print(f"{'backup':<12} {'read':>11} {'reused':>11} {'stored':>11} {'time':>8}")
for name, r in rows:
    print(f"{name:<12} {size(r['bytes_read']):>11} {size(r['bytes_reused']):>11} {size(r['bytes_stored']):>11} {r['seconds']:>7.2f}s")
print(f"dirty bytes reported by the bitmap: {size(int(sys.argv[3]))}; the incremental read {size(rows[1][1]['bytes_read'])}")
print("both restores are byte-identical to the disk at backup time")
PY
