#!/usr/bin/env bash
# Runs one fuzz target (fuzz/<target>_fuzz.cpp, docs/fuzzing.md) for a while:
#
#   scripts/fuzz.sh TARGET [MINUTES] [more libFuzzer flags]   (default 10; 0: until stopped)
#   scripts/fuzz.sh --list
#
# Builds the `asan` preset's binary for TARGET (clang, ASan+UBSan, libFuzzer),
# then fuzzes starting from the seed corpus fuzz/corpus/TARGET. New inputs go
# to build/asan/fuzz/corpus/TARGET (not committed); a crash is written to
# build/asan/fuzz/crashes/TARGET/ and ends the run with libFuzzer's report.
# Commit a crash as a regression input (fuzz/corpus/TARGET/crash-<what>) with
# its fix: every test build replays the corpus (test fuzz_replay_TARGET).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

targets() { sed -n 's/^troupe_add_fuzzer(\([a-z_]*\).*/\1/p' fuzz/CMakeLists.txt; }
case "${1:-}" in
  "" | -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
  --list) targets; exit 0 ;;
esac
target=$1
minutes=${2:-10}
shift $(($# >= 2 ? 2 : 1))
if ! targets | grep -qx "$target"; then
  echo "fuzz: no target '$target'; the targets are:" $(targets) >&2
  exit 2
fi
[[ $minutes =~ ^[0-9]+$ ]] || { echo "fuzz: MINUTES must be a whole number, not '$minutes'" >&2; exit 2; }

[ -f build/asan/CMakeCache.txt ] || scripts/configure.sh --preset asan
cmake --build --preset asan -j "${TROUPE_JOBS:-2}" --target "${target}_fuzz"

work=build/asan/fuzz/corpus/$target
crashes=build/asan/fuzz/crashes/$target
mkdir -p "$work" "$crashes"
echo "fuzz: $target for $minutes min; new inputs in $work, crashes in $crashes"
exec "build/asan/fuzz/${target}_fuzz" -max_total_time=$((minutes * 60)) -print_final_stats=1 \
  -artifact_prefix="$crashes/" "$@" "$work" "fuzz/corpus/$target"
