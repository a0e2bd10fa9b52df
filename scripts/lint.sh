#!/usr/bin/env bash
# The checks that keep the code tidy, as CI runs them:
#
#   scripts/lint.sh [BUILD_DIR]   clang-format and clang-tidy (default build/dev)
#
# clang-format (.clang-format, Debian's clang-format 14): every tracked C++
# file must already be formatted (--dry-run -Werror). clang-tidy
# (.clang-tidy, clang-tidy 14): the library sources of every layer, with the
# compile commands of BUILD_DIR (configure it first). TROUPE_JOBS sets the
# parallelism (default: the number of CPUs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build/dev}
jobs=${TROUPE_JOBS:-$(nproc)}

echo "lint: clang-format --dry-run -Werror"
git ls-files -z '*.cpp' '*.hpp' | xargs -0 clang-format-14 --dry-run -Werror

[ -f "$build/compile_commands.json" ] || { echo "lint: no $build/compile_commands.json (configure first)" >&2; exit 1; }
echo "lint: clang-tidy on the library sources ($jobs at a time)"
git ls-files -z 'runtime/src/*.cpp' 'actors/src/*.cpp' 'actors/*/src/*.cpp' |
  xargs -0 -n 1 -P "$jobs" clang-tidy-14 -p "$build" --quiet
echo "lint: clean"
