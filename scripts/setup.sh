#!/usr/bin/env bash
# Installs the Debian 12 packages troupe needs to build, test and benchmark.
#
#   scripts/setup.sh           install whatever is missing (as root, or via sudo)
#   scripts/setup.sh --check   only report what is missing; exit 1 if anything is
#
# Idempotent: packages already installed are left alone, and apt runs only when
# something is missing. Says what it installs, and on failure which packages
# could not be installed and why.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config # compiler (with ASan/UBSan/TSan runtimes), CMake 3.25, Ninja
  clang-19                                     # the second compiler (presets asan, clang): Debian's clang++ 19 with libstdc++ 12
  libclang-rt-19-dev                           # clang's sanitizer and libFuzzer runtimes (preset asan)
  libboost-context-dev                         # fiber switching
  libboost-dev curl                            # samples/http_server: Asio and Beast (header-only); its test's client
  libtbb-dev                                   # scalable allocator, concurrent containers; a benchmark peer
  libgtest-dev libgmock-dev                    # tests
  libbenchmark-dev                             # benchmarks
  libboost-fiber-dev libcaf-dev                # benchmark peers: Boost.Fiber 1.74, CAF 0.17
  libboost-dev                                 # Boost.Asio's thread_pool: troupe::load's synchronous-target adapter
  libcli11-dev libfmt-dev nlohmann-json3-dev   # command lines, formatting, JSON
  libxxhash-dev                                # XXH3 for the consistent-hash ring (patterns)
  libssl-dev                                   # MD5 of the naive ring in troupe-bench (ring.lookup/naive_md5)
  gnuplot-nox                                  # troupe-bench --plot
  zlib1g-dev                                   # the histogram's compressed V2 encoding
  gdb                                          # tests: scripts/troupe-gdb.py lists a stopped program's fibers
  clang-format-14 clang-tidy-14                # scripts/lint.sh: formatting and clang-tidy checks
  default-jdk-headless libhdrhistogram-java    # tests: HdrHistogram's Java reader reads troupe's interval logs
  prometheus-cpp-dev                           # troupe::prometheus: metrics for a server's prometheus-cpp Exposer
  python3 python3-prometheus-client            # tests: Prometheus's own parser reads troupe's metrics
  chromium                                     # scripts/trace_screenshot.sh: headless Chromium draws docs/images/trace.png (with node, npm)
)

log=/tmp/troupe-setup.log
say() { echo "setup: $*"; }
fail() { echo "setup: error: $*" >&2; exit 1; }

check_only=false
case "${1:-}" in
  "") ;;
  --check) check_only=true ;;
  -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
  *) fail "unknown argument '$1' (try --help)" ;;
esac

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing() {
  local p
  for p in "${packages[@]}"; do is_installed "$p" || echo "$p"; done
}

command -v dpkg-query >/dev/null || fail "dpkg-query not found: this script is for Debian 12 (bookworm)"
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  . /etc/os-release
  if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
    say "warning: written for Debian 12, this is ${PRETTY_NAME:-unknown}; package names may differ"
  fi
fi

mapfile -t todo < <(missing)
if [ ${#todo[@]} -eq 0 ]; then
  say "all ${#packages[@]} packages present"
  exit 0
fi
if $check_only; then
  say "missing ${#todo[@]} package(s): ${todo[*]}"
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || fail "not root and no sudo: run as root to install ${todo[*]}"
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

say "installing ${#todo[@]} missing package(s): ${todo[*]}"
say "apt-get update (log: $log)"
if ! $sudo apt-get update >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  fail "'apt-get update' failed (last lines above); check network access to the Debian archive"
fi
say "apt-get install (log: $log)"
if ! $sudo apt-get install -y -q --no-install-recommends "${todo[@]}" >>"$log" 2>&1; then
  tail -n 20 "$log" >&2
  for p in "${todo[@]}"; do
    if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]'; then
      echo "setup: error: $p is not available from the configured archives" >&2
    fi
  done
  fail "'apt-get install' failed (last lines above)"
fi

mapfile -t still < <(missing)
[ ${#still[@]} -eq 0 ] || fail "still missing after install: ${still[*]} (see $log)"
say "done: installed ${todo[*]}"
