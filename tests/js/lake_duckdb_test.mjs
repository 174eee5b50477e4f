// DuckDB reads the raw lake without Firehose (DESIGN §5): a lake written by the real writer
// (lake_fixture) is read with read_json over the Hive partitions, and the count per event_date
// must equal `firehose lake ls --json`. amount_minor above 2^53 must come back exactly.
//
//   node lake_duckdb_test.mjs BIN_DIR
// Exit 0 on success, 1 on a mismatch, 77 (CTest: skipped) when @duckdb/node-api is not
// installed (scripts/test.sh runs `npm ci` here first).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let DuckDBInstance;
try {
  ({ DuckDBInstance } = await import('@duckdb/node-api'));
} catch (error) {
  console.log(`skipped: @duckdb/node-api is not installed (npm ci in tests/js): ${error.message}`);
  process.exit(77);
}

const binDir = process.argv[2];
const dataDir = mkdtempSync(join(tmpdir(), 'firehose-duckdb-'));
let failures = 0;
const check = (ok, message) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
  if (!ok) failures += 1;
};

try {
  const summary = JSON.parse(execFileSync(join(binDir, 'lake_fixture'),
    ['--data-dir', dataDir, '--records', '700', '--timezone', 'America/New_York'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const listing = JSON.parse(execFileSync(join(binDir, 'firehose'),
    ['lake', 'ls', '--data-dir', dataDir, '--json'], { encoding: 'utf8' }));
  const expected = {};
  for (const partition of listing.partitions) {
    if (partition.zone === 'raw') expected[partition.date] = BigInt(partition.lines);
  }

  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const source = `read_json('${join(dataDir, 'lake', 'raw')}/*/*.jsonl.zst',
      format = 'newline_delimited', hive_partitioning = true,
      columns = {partner_id: 'VARCHAR', txn_id: 'VARCHAR', amount_minor: 'BIGINT', amount: 'VARCHAR',
                 currency: 'VARCHAR', status: 'VARCHAR', event_time_us: 'BIGINT',
                 arrival_id: 'VARCHAR', event_index: 'BIGINT', raw: 'VARCHAR'})`;
  const counts = (await connection.runAndReadAll(
    `SELECT CAST(event_date AS VARCHAR) AS event_date, count(*) AS events FROM ${source} GROUP BY ALL ORDER BY 1`))
    .getRowObjects();
  const seen = {};
  for (const row of counts) {
    seen[row.event_date] = BigInt(row.events);
    console.log(`event_date=${row.event_date} ${row.events}`);
  }
  check(JSON.stringify(Object.keys(seen)) === JSON.stringify(Object.keys(expected).sort()),
    `DuckDB sees the partitions lake ls lists: ${Object.keys(seen).join(', ')}`);
  for (const [date, events] of Object.entries(expected)) {
    check(seen[date] === events, `event_date=${date}: DuckDB ${seen[date]}, lake ls ${events}`);
  }
  const total = Object.values(seen).reduce((a, b) => a + b, 0n);
  check(total === BigInt(summary.events), `total ${total} equals the events written (${summary.events})`);

  const [max] = (await connection.runAndReadAll(
    `SELECT max(amount_minor) AS max_minor, count(*) FILTER (WHERE amount_minor > 9007199254740992) AS beyond,
            count(DISTINCT (arrival_id, event_index)) AS distinct_keys, count(*) AS lines
     FROM ${source}`)).getRowObjects();
  check(max.max_minor === BigInt(summary.amount_minor_max),
    `max(amount_minor) read exactly: ${max.max_minor} (written ${summary.amount_minor_max})`);
  check(max.beyond > 0n, `${max.beyond} amounts above 2^53 read as integers`);
  check(max.distinct_keys === max.lines, 'every (arrival_id, event_index) appears once');
  // The amount string and the integer agree for every line (no double anywhere).
  const [mismatch] = (await connection.runAndReadAll(
    `SELECT count(*) AS n FROM ${source}
     WHERE replace(amount, '.', '') <> lpad(CAST(amount_minor AS VARCHAR), CAST(length(replace(amount, '.', '')) AS INTEGER), '0')`))
    .getRowObjects();
  check(mismatch.n === 0n, 'amount matches amount_minor on every line');
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(`${failures === 0 ? 'passed' : `${failures} check(s) failed`}`);
process.exit(failures === 0 ? 0 : 1);
