#!/usr/bin/env bash
# Builds troupe-bench in the `release` preset (build/release: -O2, no
# -march=native) and runs its quick pass.
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
