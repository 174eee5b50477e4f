// Runs sql/ledger.sql in DuckDB on a lake and prints one JSON line: how long the ledger took
// (the tables ledger_transactions and ledger_daily_totals created), rows, and the digest.
//   node duckdb_ledger.mjs REPO LAKE_ROOT DAY [THREADS [MEMORY_LIMIT TEMP_DIRECTORY]]
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [repo, lakeRoot, day, threads, memoryLimit, tempDirectory] = process.argv.slice(2);
// @duckdb/node-api is installed for the tests (tests/js, `npm ci`).
const require = createRequire(join(repo, 'tests', 'js', 'package.json'));
const { DuckDBInstance } = await import(pathToFileURL(require.resolve('@duckdb/node-api')).href);

const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
if (threads) await connection.run(`SET threads = ${Number(threads)}`);
// Without a limit DuckDB holds the whole window in memory (12 GiB and growing on 21 M lines):
// give it the native job's bound and a place to spill.
if (memoryLimit) await connection.run(`SET memory_limit = '${memoryLimit}'`);
if (tempDirectory) await connection.run(`SET temp_directory = '${tempDirectory}'`);
if (memoryLimit) await connection.run('SET preserve_insertion_order = false');
await connection.run(`SET VARIABLE lake_root = '${lakeRoot}'`);
await connection.run(`SET VARIABLE ledger_day = DATE '${day}'`);
await connection.run('SET VARIABLE ledger_window = 1');
const sql = readFileSync(join(repo, 'sql', 'ledger.sql'), 'utf8');
const started = process.hrtime.bigint();
await connection.run(sql);
const ledgerMs = Number(process.hrtime.bigint() - started) / 1e6;
const [counts] = (await connection.runAndReadAll(
  'SELECT (SELECT count(*) FROM ledger_lines) AS lines, (SELECT count(*) FROM ledger_transactions) AS keys')).getRowObjects();
const digestStarted = process.hrtime.bigint();
const [{ digest }] = (await connection.runAndReadAll('SELECT digest FROM ledger_digest')).getRowObjects();
const digestMs = Number(process.hrtime.bigint() - digestStarted) / 1e6;
console.log(JSON.stringify({ ledger_ms: ledgerMs, digest_ms: digestMs, lines: Number(counts.lines),
  keys: Number(counts.keys), digest }));
