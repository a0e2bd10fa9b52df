#!/usr/bin/env bash
# Builds troupe-bench in the `release` preset (build/release: -O2, no
# -march=native) and runs its quick pass: every system at the quick sizes of
# bench/workload_sizes.hpp (fib(27), skynet 100,000 leaves, a tenth of the
# messages), 3 repetitions; about 2 minutes once built on 2 quiet cores. The
# full sizes of docs/benchmarks.md are troupe-bench's default: run
# build/release/bench/troupe-bench yourself (5 repetitions of the full sizes:
# well over 10 minutes).
#
#   scripts/bench.sh                     quick pass, all workloads
#   scripts/bench.sh --filter skynet     extra arguments go to troupe-bench
#
# Setup and build output goes to stderr, so stdout carries only the results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=${TROUPE_JOBS:-$(nproc)}
step() { printf '\n== [%s] bench.sh: %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }

{
  step "setup (Debian packages)"
  scripts/setup.sh
  step "configure (cmake --preset release)"
  scripts/configure.sh --preset release
  step "build (troupe-bench)"
  cmake --build --preset release --target troupe-bench -j "$jobs"
} >&2
step "run (troupe-bench --quick $*)"
exec build/release/bench/troupe-bench --quick "$@"
