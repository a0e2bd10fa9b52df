#!/usr/bin/env bash
# Builds the failure-story samples in the `release` preset and runs each in
# quick mode (under 30 s each on two busy cores): prints its tables, writes
# its JSON to build/samples/<name>.json (and the gnuplot script beside it),
# draws its plot into docs/images/samples/<name>.png and checks its headline
# with sample_headline_check.
#
#   scripts/samples.sh                      every sample, quick mode
#   scripts/samples.sh retry_storm          only the samples named
#   SAMPLES_FULL=1 scripts/samples.sh       full sizes instead of --quick (minutes)
#
# Exits non-zero if a sample fails or its headline does not hold (every
# sample still runs). Setup and build output goes to stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=${TROUPE_JOBS:-$(nproc)}
step() { printf '\n== [%s] samples.sh: %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }

{
  step "setup (Debian packages)"
  scripts/setup.sh
  step "configure (cmake --preset release)"
  scripts/configure.sh --preset release >/dev/null
} >&2

list=build/release/samples/story_samples.txt
mapfile -t all < <(grep -v '^$' "$list")
if [ $# -gt 0 ]; then
  for name in "$@"; do
    printf '%s\n' "${all[@]}" | grep -qx "$name" || { echo "samples.sh: no sample '$name' (have: ${all[*]})" >&2; exit 2; }
  done
  names=("$@")
else
  names=("${all[@]}")
fi

step "build (${names[*]} sample_headline_check)"
cmake --build --preset release --target "${names[@]}" sample_headline_check -j "$jobs" >&2

mode=--quick
[ "${SAMPLES_FULL:-0}" = 1 ] && mode=""
mkdir -p build/samples docs/images/samples
failed=()
summary=()
i=0
for name in "${names[@]}"; do
  i=$((i + 1))
  step "[$i/${#names[@]}] $name ${mode}"
  json=build/samples/$name.json
  start=$(date +%s%N)
  if build/release/samples/"$name" $mode --json "$json" --plot docs/images/samples/"$name".png \
       --plot-script build/samples/"$name".gp; then
    ms=$((($(date +%s%N) - start) / 1000000))
    took=$(printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)))
    if verdict=$(build/release/samples/sample_headline_check "$json"); then
      summary+=("$(printf '%-22s %6s s  %s' "$name" "$took" "$verdict")")
    else
      failed+=("$name (headline)")
      summary+=("$(printf '%-22s %6s s  HEADLINE DOES NOT HOLD' "$name" "$took")")
    fi
  else
    failed+=("$name (exit $?)")
    summary+=("$(printf '%-22s  FAILED' "$name")")
  fi
done

step "summary (JSON in build/samples/, plots in docs/images/samples/)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "samples.sh: failed: ${failed[*]}" >&2
  exit 1
fi
