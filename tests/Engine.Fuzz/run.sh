#!/usr/bin/env bash
# Fuzzes one Engine parser with AFL++ through SharpFuzz.
#
#   tests/Engine.Fuzz/run.sh --list              names every target (and what it feeds)
#   tests/Engine.Fuzz/run.sh TARGET SECONDS      fuzzes TARGET for SECONDS, starting from corpora/TARGET
#
# The harness is published to out/bin and its Engine assemblies are instrumented there (the normal build is left
# alone); findings go to out/findings/TARGET (crashes/, hangs/, queue/, fuzzer_stats). Needs afl-fuzz (Debian
# `afl++`); installs the `sharpfuzz` instrumenter into .tools/ on first use. FUZZ_TIMEOUT_MS sets afl-fuzz -t
# (default 5000: a run that takes longer is a hang); FUZZ_REUSE_BUILD=1 skips rebuilding an instrumented harness.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/out"
bin="$out/bin"

publish() {
  # A fresh folder every time: sharpfuzz refuses an assembly it has already instrumented.
  rm -rf "$bin"
  dotnet publish "$here/Engine.Fuzz.csproj" -c Release -o "$bin" --nologo -v quiet >/dev/null
}

if [[ "${1:-}" == "--list" ]]; then
  dotnet run --project "$here/Engine.Fuzz.csproj" -c Release -v quiet -- --list
  exit 0
fi

if [[ $# -ne 2 || ! "$2" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 --list | TARGET SECONDS" >&2
  exit 64
fi
target="$1"
seconds="$2"
corpus="$here/corpora/$target"
if [[ ! -d "$corpus" ]]; then
  echo "$0: no target '$target' (no $corpus); see $0 --list" >&2
  exit 64
fi
command -v afl-fuzz >/dev/null || { echo "$0: afl-fuzz not found (Debian package afl++)" >&2; exit 69; }

tools="$here/.tools"
if [[ ! -x "$tools/sharpfuzz" ]]; then
  dotnet tool install --tool-path "$tools" SharpFuzz.CommandLine --version 2.3.0 >/dev/null
fi

# FUZZ_REUSE_BUILD=1 (run-all.sh) keeps an instrumented harness from an earlier run instead of rebuilding it.
# A run holds the harness lock shared while it fuzzes and exclusive while it rebuilds, so runs side by side share
# one harness and none is rebuilt under a running afl-fuzz.
mkdir -p "$out"
exec 9>"$out/.harness.lock"
flock -s 9
if [[ "${FUZZ_REUSE_BUILD:-0}" != 1 || ! -f "$bin/.instrumented" ]]; then
  flock -x 9
  publish
  for dll in "$bin"/Engine.*.dll; do
    [[ "$(basename "$dll")" == Engine.Fuzz.dll ]] && continue
    "$tools/sharpfuzz" "$dll" >/dev/null
  done
  touch "$bin/.instrumented"
  flock -s 9
fi

# Text formats have a dictionary of their keywords (dictionaries/TARGET.dict): AFL would take long to guess them.
dictionary=()
[[ -f "$here/dictionaries/$target.dict" ]] && dictionary=(-x "$here/dictionaries/$target.dict")

findings="$out/findings/$target"
# An earlier run's findings may hold crashes not yet copied to Regressions/: kept aside, never deleted.
[[ -d "$findings" ]] && mv "$findings" "$findings.$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$findings"
# AFL_SKIP_BIN_CHECK: the target is `dotnet`, not an AFL-compiled binary. AFL_NO_AFFINITY: the machine is shared.
# AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES: .NET reports crashes through the fork server, not through core dumps.
AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
  AFL_AUTORESUME=0 DOTNET_TieredPGO=0 \
  afl-fuzz -i "$corpus" -o "$findings" -t "${FUZZ_TIMEOUT_MS:-5000}" -m none -V "$seconds" "${dictionary[@]}" \
  -- dotnet "$bin/Engine.Fuzz.dll" "$target" >"$findings/afl.log" 2>&1 || {
    echo "$0: afl-fuzz failed, see $findings/afl.log:" >&2
    tail -20 "$findings/afl.log" >&2
    exit 1
  }

stats="$findings/default/fuzzer_stats"
field() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
crashes="$(field saved_crashes)"
hangs="$(field saved_hangs)"
echo "$target: ${seconds}s, $(field execs_done) executions ($(field execs_per_sec)/s), $(field corpus_count) paths, $crashes crashes, $hangs hangs"
if [[ "$crashes" != 0 || "$hangs" != 0 ]]; then
  echo "findings: $findings/default/crashes $findings/default/hangs (replay one, uninstrumented: dotnet run --project $here -c Release -- --replay $target FILE)"
fi
