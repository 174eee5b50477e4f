#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs `firehose demo`.
# Arguments are passed to the demo (e.g. --duration 60, --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh release
exec build/release/bin/firehose demo "$@"
