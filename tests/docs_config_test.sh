#!/usr/bin/env bash
# Keeps docs/configuration.md true: its example config must pass `firehose config check`.
#   docs_config_test.sh FIREHOSE_BINARY docs/configuration.md
set -euo pipefail
firehose=$1
doc=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/secrets"
awk '/^```toml$/{inside=1; next} /^```$/{if (inside) exit} inside' "$doc" > "$dir/firehose.toml"
printf 'old-secret' > "$dir/secrets/acme-old"
chmod 600 "$dir/secrets/acme-old" "$dir/firehose.toml"
FIREHOSE_OPS_TOKEN=token ACME_WEBHOOK_SECRET=secret GLOBEX_TOKEN=token \
  "$firehose" config check "$dir/firehose.toml" > "$dir/out.txt" || { cat "$dir/out.txt"; exit 1; }
grep -q ': ok$' "$dir/out.txt"
# The check must not print a secret it resolved.
if grep -q -e old-secret -e 'secret$' "$dir/out.txt"; then echo "a secret was printed"; exit 1; fi
