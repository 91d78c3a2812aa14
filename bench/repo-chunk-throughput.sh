#!/usr/bin/env bash
# Single-core throughput of the backup repository's chunk path (SHA-256, zstd, checksums, temporary file and rename)
# for new random, compressible and 50/50 mixed 4 MiB chunks, dedup hits and reads. One thread: the figure is what one
# core can feed a backup with.
#
#   bench/repo-chunk-throughput.sh [DIR] [CHUNKS]     # DIR: scratch repository (default /var/tmp/engine-repo-bench), CHUNKS per case (default 64)
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:-/var/tmp/engine-repo-bench}
CHUNKS=${2:-64}
command -v dotnet >/dev/null || { echo "repo-chunk-throughput: the .NET 10 SDK (dotnet) is needed" >&2; exit 1; }
dotnet build "$REPO_ROOT/bench/RepoChunkThroughput" -c Release -o "$REPO_ROOT/bench/RepoChunkThroughput/bin/out" >/dev/null
exec taskset -c 0 dotnet "$REPO_ROOT/bench/RepoChunkThroughput/bin/out/RepoChunkThroughput.dll" "$DIR" "$CHUNKS"
