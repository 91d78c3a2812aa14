#!/usr/bin/env bash
# The main job, until the backup job exists: publish engine, serve a sample image over NBD, and read it back
# with real clients (nbdinfo, nbdcopy, qemu-img), checking that every byte matches.
set -euo pipefail
cd "$(dirname "$0")"
export PATH=/usr/bin:$PATH   # Debian's python3 for libnbd tools
work=$(mktemp -d /tmp/engine-demo.XXXXXX)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== publishing engine"
dotnet publish src/Engine.Cli -c Release -o "$work/bin" --nologo -v quiet >/dev/null

echo "== making a sparse sample image"
bash fixtures/make-sample-image.sh "$work/sample.img"

echo "== serving it"
"$work/bin/engine" serve "$work/sample.img" --socket "$work/nbd.sock" --read-only --description "Engine demo image" > "$work/uri" &
server=$!
for _ in $(seq 100); do [ -s "$work/uri" ] && break; sleep 0.1; done
uri=$(head -n1 "$work/uri")
echo "serving $uri"

nbdinfo "$uri"
nbdinfo --map "$uri"
nbdcopy "$uri" "$work/copy.img"
qemu-img compare -f raw -F raw "$work/sample.img" "$work/copy.img"
cmp "$work/sample.img" "$work/copy.img"
echo "== read back byte-exact: $(sha256sum < "$work/copy.img" | cut -c1-16)…"
kill -TERM "$server"; wait "$server"
echo "== server stopped cleanly (exit 0)"
