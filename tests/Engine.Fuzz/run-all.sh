#!/usr/bin/env bash
# Fuzzes every target for SECONDS, one after the other (one core at a time), and writes each target's figures to
# STATS_DIR/TARGET.txt: the afl-fuzz fuzzer_stats lines for executions, paths, crashes and hangs, plus run.sh's summary.
#
#   tests/Engine.Fuzz/run-all.sh 600 /work/fuzz-10min                  every target
#   tests/Engine.Fuzz/run-all.sh 600 /work/fuzz-10min ovf tar vmdk     only these (two runs side by side on 2 cores)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${1:?usage: $0 SECONDS STATS_DIR}"
stats_dir="${2:?usage: $0 SECONDS STATS_DIR [TARGET...]}"
shift 2
mkdir -p "$stats_dir"
reuse="${FUZZ_REUSE_BUILD:-0}"
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <("$here/run.sh" --list | cut -f1)
for target in "${targets[@]}"; do
  # The first run builds and instruments the harness; the others reuse it.
  summary="$(FUZZ_REUSE_BUILD=$reuse "$here/run.sh" "$target" "$seconds" 2>&1 | tail -2)" || true
  reuse=1
  {
    echo "$summary"
    grep -E '^(start_time|last_update|run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|stability|bitmap_cvg) ' \
      "$here/out/findings/$target/default/fuzzer_stats" 2>/dev/null || echo "no fuzzer_stats (see $here/out/findings/$target/afl.log)"
  } >"$stats_dir/$target.txt"
done
