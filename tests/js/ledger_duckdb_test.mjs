// The SQL twin (sql/ledger.sql) in DuckDB equals the native ledger job, row for row: a sim lake
// (duplicates, late and conflicting resends, versions, resends across midnight, amounts above
// 2^53) is booked by `firehose ledger run` and by the SQL, for the day and the day after, and the
// transactions, the daily totals and the digest must be identical.
//
//   node ledger_duckdb_test.mjs BIN_DIR SQL_FILE
// Exit 0 on success, 1 on a mismatch, 77 (CTest: skipped) when @duckdb/node-api is not installed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let DuckDBInstance;
try {
  ({ DuckDBInstance } = await import('@duckdb/node-api'));
} catch (error) {
  console.log(`skipped: @duckdb/node-api is not installed (npm ci in tests/js): ${error.message}`);
  process.exit(77);
}

const [binDir, sqlFile] = process.argv.slice(2);
const firehose = join(binDir, 'firehose');
const dataDir = mkdtempSync(join(tmpdir(), 'firehose-ledger-duckdb-'));
const config = join(dataDir, 'firehose.toml');
let failures = 0;
const check = (ok, message) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
  if (!ok) failures += 1;
};
// JavaScript numbers lose integers above 2^53: read them as strings.
const parseExact = (text) =>
  JSON.parse(text.replace(/"(amount_minor|event_time_us|version|txn_count)": (-?\d+)/g, '"$1": "$2"'));
const text = (value) => (value === null || value === undefined ? null : String(value));

try {
  execFileSync(firehose, ['sim', 'lake', '--day', '2025-11-27', '--events', '6000', '--partners',
    '8', '--seed', '21', '--out', dataDir, '--json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const sql = readFileSync(sqlFile, 'utf8');

  for (const day of ['2025-11-27', '2025-11-28']) {
    const run = parseExact(execFileSync(firehose, ['--config', config, 'ledger', 'run', '--day', day,
      '--json'], { encoding: 'utf8' }));
    const shown = parseExact(execFileSync(firehose, ['--config', config, 'ledger', 'show', '--day',
      day, '--json', '--transactions', '100000000'], { encoding: 'utf8', maxBuffer: 1 << 30 }));

    await connection.run(`SET VARIABLE lake_root = '${join(dataDir, 'lake')}'`);
    await connection.run(`SET VARIABLE ledger_day = DATE '${day}'`);
    await connection.run('SET VARIABLE ledger_window = 1');
    await connection.run(sql);
    const rows = (await connection.runAndReadAll(
      `SELECT partner_id, txn_id, amount_minor, currency, status, event_time_us, version, versions,
              conflict
       FROM ledger_transactions ORDER BY partner_id COLLATE "binary", txn_id COLLATE "binary"`))
      .getRowObjects();
    const native = shown.transactions;
    check(rows.length === native.length && native.length > 0,
      `${day}: ${rows.length} transactions in SQL, ${native.length} native`);
    let differing = 0;
    for (let i = 0; i < Math.min(rows.length, native.length); i += 1) {
      const a = rows[i];
      const b = native[i];
      const same = a.partner_id === b.partner_id && a.txn_id === b.txn_id &&
        text(a.amount_minor) === b.amount_minor && a.currency === b.currency &&
        a.status === b.status && text(a.event_time_us) === b.event_time_us &&
        text(a.version) === text(b.version) && Number(a.versions) === b.versions &&
        a.conflict === b.conflict;
      if (!same && differing++ < 5) {
        console.log(`  row ${i}: sql ${JSON.stringify(a, (k, v) => (typeof v === 'bigint' ? v.toString() : v))}` +
          ` native ${JSON.stringify(b)}`);
      }
    }
    check(differing === 0, `${day}: transactions equal row for row (${differing} differ)`);

    const totals = (await connection.runAndReadAll(
      `SELECT partner_id, currency, status, txn_count, amount_minor FROM ledger_daily_totals
       ORDER BY partner_id COLLATE "binary", currency, status`)).getRowObjects();
    const sameTotals = totals.length === run.totals.length && totals.every((row, i) => {
      const expected = run.totals[i];
      return row.partner_id === expected.partner_id && row.currency === expected.currency &&
        row.status === expected.status && text(row.txn_count) === expected.txn_count &&
        text(row.amount_minor) === expected.amount_minor;
    });
    check(sameTotals, `${day}: ${totals.length} daily totals equal`);
    const [{ digest }] = (await connection.runAndReadAll('SELECT digest FROM ledger_digest'))
      .getRowObjects();
    check(digest === run.run.digest, `${day}: SQL digest ${digest} equals the native run's`);
    if (day === '2025-11-27') {
      check(rows.some((row) => row.conflict), `${day}: conflicts are flagged`);
      check(rows.some((row) => row.amount_minor > 9007199254740992n), `${day}: amounts above 2^53`);
      check(rows.some((row) => row.versions > 1n), `${day}: keys with several versions`);
    }
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(`${failures === 0 ? 'passed' : `${failures} check(s) failed`}`);
process.exit(failures === 0 ? 0 : 1);
