#!/usr/bin/env bash
# Builds troupe in the `debug` preset (build/debug) and runs its tests.
#
#   scripts/test.sh              everything
#   scripts/test.sh -R deque     extra arguments go to ctest
#   TROUPE_PRESET=dev scripts/test.sh   another preset (CI: dev, -Werror)
#
# Steps: install missing Debian packages (scripts/setup.sh), configure, build,
# ctest. Exits non-zero if any step or any test fails. TROUPE_JOBS sets the
# parallelism of the build and of ctest (default: the number of CPUs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=${TROUPE_JOBS:-$(nproc)}
preset=${TROUPE_PRESET:-debug}
step() { printf '\n== [%s] test.sh: %s\n' "$(date '+%H:%M:%S')" "$*"; }

step "setup (Debian packages)"
scripts/setup.sh
step "configure (cmake --preset $preset)"
scripts/configure.sh --preset "$preset"
step "build (cmake --build --preset $preset -j $jobs)"
cmake --build --preset "$preset" -j "$jobs"
step "test (ctest --preset $preset -j $jobs $*)"
ctest --preset "$preset" -j "$jobs" "$@"
step "done"
