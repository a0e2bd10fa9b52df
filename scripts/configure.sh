#!/usr/bin/env bash
# Runs a CMake configure step strictly, for the project's scripts and CI:
#
#   scripts/configure.sh --preset debug [more cmake args]
#   scripts/configure.sh -S tests/package -B /tmp/pkg -DCMAKE_PREFIX_PATH=...
#
# Fails when CMake reports "Manually-specified variables were not used by the
# project" (a misspelt or dead -D option that would silently do nothing), and
# turns developer warnings into errors (-Werror=dev).
set -euo pipefail

log=$(mktemp)
trap 'rm -f "$log"' EXIT

cmake -Werror=dev "$@" 2>&1 | tee "$log"
if grep -q "Manually-specified variables were not used by the project" "$log"; then
  echo "configure: error: a variable given on the command line or in the preset is not used" \
       "by the project (see the warning above); fix or remove it" >&2
  exit 1
fi
