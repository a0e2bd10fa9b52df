#!/usr/bin/env bash
# What the tracing hooks cost while tracing is off (issue 8: "tracing
# compiled in but off, against without"): actor.ping_pong/troupe at one
# worker, from build/release (hooks compiled in, tracing off) and from
# build/release-nohooks (configured with TROUPE_TRACE_HOOKS=OFF: the hooks
# compiled out), each run in its own process, alternating, ROUNDS rounds.
# Prints every figure, the median of each and the ratio. Run by hand (not in
# CI); on a shared machine say how loaded it was.
#
#   scripts/bench_trace_cost.sh [ROUNDS]    default 5
#
# Build output goes to stderr, so stdout carries only the results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=${1:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench_trace_cost: ROUNDS must be a positive integer" >&2; exit 2; }
jobs=${TROUPE_JOBS:-$(nproc)}
on=build/release
off=build/release-nohooks

{
  [ -f "$on/CMakeCache.txt" ] || scripts/configure.sh --preset release
  [ -f "$off/CMakeCache.txt" ] || scripts/configure.sh --preset release -B "$off" -DTROUPE_TRACE_HOOKS=OFF
  cmake --build "$on" -j "$jobs" --target troupe-bench
  cmake --build "$off" -j "$jobs" --target troupe-bench
} >&2
grep -q '^TROUPE_TRACE_HOOKS:BOOL=OFF$' "$off/CMakeCache.txt" ||
  { echo "bench_trace_cost: $off is not configured with TROUPE_TRACE_HOOKS=OFF" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One process per figure: the median rate of actor.ping_pong/troupe, 1 worker.
figure() {
  "$1/bench/troupe-bench" --threads 1 --filter '^actor\.ping_pong/troupe' --json "$tmp/r.json" >/dev/null
  python3 -c '
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["results"]
        if r["workload"] == "actor.ping_pong" and r["system"] == "troupe"]
if len(rows) != 1: sys.exit("bench_trace_cost: expected one actor.ping_pong row, got %d" % len(rows))
print("%.4g %s" % (rows[0]["value"], rows[0]["unit"]))' "$tmp/r.json"
}

echo "actor.ping_pong/troupe, 1 worker, $rounds rounds, alternating (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
for ((i = 1; i <= rounds; i++)); do
  a=$(figure "$on")
  b=$(figure "$off")
  echo "round $i: hooks compiled in, off: $a   hooks compiled out: $b"
  echo "${a%% *}" >>"$tmp/on"
  echo "${b%% *}" >>"$tmp/off"
done
python3 - "$tmp/on" "$tmp/off" <<'PY'
import statistics, sys
on = [float(x) for x in open(sys.argv[1])]
off = [float(x) for x in open(sys.argv[2])]
m_on, m_off = statistics.median(on), statistics.median(off)
print("median: hooks compiled in, off: %.4g   hooks compiled out: %.4g" % (m_on, m_off))
print("ratio (compiled out / compiled in; the unit is a rate, so > 1 means the hooks cost): %.3f" % (m_off / m_on))
PY
