#!/usr/bin/env bash
# Builds and runs a consumer of each troupe layer through pkg-config only,
# as a project without CMake would, against the troupe installed in $1:
#   tests/package/pkgconfig.sh <prefix> <work dir>
set -euo pipefail
prefix=$1 out=$2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pcdir=$(dirname "$(find "$prefix" -name troupe.pc -print -quit)")
export PKG_CONFIG_PATH="$pcdir"
mkdir -p "$out"
echo "pkgconfig: troupe $(pkg-config --modversion troupe) from $pcdir"
for layer in runtime actors patterns testing; do
  # shellcheck disable=SC2046  # pkg-config's output is meant to be split into flags
  g++ -std=c++20 -O1 "$here/components/$layer.cpp" -o "$out/pc-$layer" $(pkg-config --cflags --libs "troupe-$layer")
  "$out/pc-$layer"
done
# shellcheck disable=SC2046
g++ -std=c++20 -O1 "$here/main.cpp" -o "$out/pc-troupe" $(pkg-config --cflags --libs troupe)
"$out/pc-troupe"
