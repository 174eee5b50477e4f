#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test —
# the release build runs the whole suite, then an ASan+UBSan build runs the unit and
# integration tiers again.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh --test
if [[ -f tests/js/package.json ]]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi

jobs=${FIREHOSE_TEST_JOBS:-2}
scripts/build.sh release
ctest --test-dir build/release --output-on-failure --no-tests=error -j "$jobs"

scripts/build.sh asan
ctest --test-dir build/asan --output-on-failure --no-tests=error -j "$jobs" -L 'unit|integration'
echo "test.sh: every test passed"
