#!/usr/bin/env bash
# Keeps docs/configuration.md true: its example config must pass `firehose config check`.
#   docs_config_test.sh FIREHOSE_BINARY docs/configuration.md src/core/limits.h
set -euo pipefail
firehose=$1
doc=$2
limits=$3
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
# Every limit has its row in the doc's table.
names=$(grep -oP '^\s+X\(\K[a-z0-9_]+' "$limits")
[[ -n "$names" ]] || { echo "no limits found in $limits"; exit 1; }
missing=0
for name in $names; do
  grep -q "^| \`$name\` |" "$doc" || { echo "limit $name has no row in $doc"; missing=1; }
done
exit $missing
