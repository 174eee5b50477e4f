#!/usr/bin/env bash
# Installs, from Debian's packages, whatever Firehose needs that this machine lacks.
# Idempotent and non-interactive: packages already present are not touched, and
# `apt-get update` runs only when something has to be installed.
#
#   scripts/deps.sh          build + run dependencies (enough for `firehose demo`)
#   scripts/deps.sh --test   also the servers and tools the test suite starts
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev libsimdjson-dev libzstd-dev libssl-dev libsqlite3-dev libpq-dev
  libnats-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libcurl4-openssl-dev libxxhash-dev libcctz-dev libisal-dev libjs-chart.js
  libgoogle-perftools-dev libgtest-dev libgmock-dev libbenchmark-dev
  zstd jq curl ca-certificates tzdata
)
test_packages=(
  nats-server postgresql prometheus chromium nodejs npm
  clang libclang-rt-14-dev llvm e2fsprogs procps psmisc iproute2
)

wanted=("${build_packages[@]}")
if [[ "${1:-}" == "--test" ]]; then
  wanted+=("${test_packages[@]}")
fi

missing=()
for package in "${wanted[@]}"; do
  # Node.js may come from elsewhere (nodesource, nvm): a working `node`/`npm` is enough.
  if [[ "$package" == nodejs ]] && command -v node >/dev/null; then continue; fi
  if [[ "$package" == npm ]] && command -v npm >/dev/null; then continue; fi
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
