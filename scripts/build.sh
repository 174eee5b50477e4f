#!/usr/bin/env bash
# Configures and builds one flavour of Firehose into build/<flavour>.
#   scripts/build.sh [release|debug|asan]   (default: release)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
case "$flavour" in
  release) cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  debug)   cmake_args=(-DCMAKE_BUILD_TYPE=Debug) ;;
  asan)    cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DFIREHOSE_SANITIZE=ON -DFIREHOSE_BENCH=OFF) ;;
  *) echo "build.sh: unknown flavour '$flavour' (release, debug, asan)" >&2; exit 2 ;;
esac
jobs=${FIREHOSE_BUILD_JOBS:-$(nproc)}
# Relative paths in ccache keys let several checkouts of the repo share one cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
if [[ ! -f "build/$flavour/build.ninja" ]]; then
  cmake -S . -B "build/$flavour" -G Ninja "${cmake_args[@]}" >/dev/null
fi
cmake --build "build/$flavour" -j "$jobs"
