-- The exact daily ledger as plain SQL over the raw lake: the SQL twin of `firehose ledger run`
-- (src/ledger/ledger_job.h), for Spark / Trino / DuckDB. Semantics: docs/ledger.md.
--
-- Parameters (DuckDB: SET VARIABLE before running this file; other engines: substitute them):
--   lake_root      VARCHAR  the lake directory, e.g. '/var/lib/firehose/lake'
--   ledger_day     DATE     the business day to book, e.g. DATE '2025-11-27'
--   ledger_window  INTEGER  the dedup window in days either side (ledger_dedup_window_days)
--
-- Creates two tables, the same rows the native job writes to the warehouse:
--   ledger_transactions   one row per booked (partner_id, txn_id): its canonical version
--   ledger_daily_totals   per (partner_id, currency, status): txn_count, amount_minor
-- and a view ledger_digest with the ledger's SHA-256 digest (docs/ledger.md, "Output and its
-- digest"), which equals the native run's digest.
--
-- What it reproduces and what it cannot:
--  - The canonical rule is the same: greatest `version` (NULL lowest), then the order of receipt
--    (received_at_us, file, line). SQL has no line numbers: within one lake file the lines are
--    in (queue_offset, event_index) order (the writer appends records in offset order and a
--    record's events in batch order), so (filename, queue_offset, event_index) is the same
--    total order as (file, line). `filename` is the full path DuckDB globbed; every file shares
--    the lake root, so it sorts like the relative path the native job uses.
--  - It reads the files a glob finds; the native job reads what the manifests list. They are the
--    same set when `firehose lake verify` is clean (no unlisted file, no publication pending).
--  - Totals are summed in HUGEINT and cast to BIGINT: an overflow fails the query, as it fails
--    the native run. The native job also refuses malformed lines (DataLoss); here a line that
--    does not fit the column types fails the read.
--  - Not reproduced: the neighbour findings (staleness) and the runs/inputs bookkeeping.

CREATE OR REPLACE TEMP TABLE ledger_lines AS
SELECT partner_id, txn_id, amount_minor, currency, status, event_time_us, version,
       received_at_us, queue_offset, event_index, filename,
       CAST(event_date AS DATE) AS event_date
FROM read_json(getvariable('lake_root') || '/raw/*/*.jsonl.zst',
               format = 'newline_delimited', hive_partitioning = true, filename = true,
               columns = {partner_id: 'VARCHAR', txn_id: 'VARCHAR', amount_minor: 'BIGINT',
                          currency: 'VARCHAR', status: 'VARCHAR', event_time_us: 'BIGINT',
                          version: 'BIGINT', received_at_us: 'BIGINT', queue_offset: 'UBIGINT',
                          event_index: 'BIGINT'})
WHERE CAST(event_date AS DATE)
      BETWEEN getvariable('ledger_day') - CAST(getvariable('ledger_window') AS INTEGER)
          AND getvariable('ledger_day') + CAST(getvariable('ledger_window') AS INTEGER);

CREATE OR REPLACE TEMP TABLE ledger_transactions AS
WITH keyed AS (
  SELECT *,
         row_number() OVER (PARTITION BY partner_id, txn_id
                            ORDER BY version DESC NULLS LAST, received_at_us, filename,
                                     queue_offset, event_index) AS precedence,
         count(*) OVER (PARTITION BY partner_id, txn_id) AS versions
  FROM ledger_lines
),
agreement AS (
  SELECT partner_id, txn_id,
         count(DISTINCT (amount_minor, currency, status)) AS distinct_values
  FROM ledger_lines
  GROUP BY partner_id, txn_id
)
SELECT k.partner_id, k.txn_id, k.amount_minor, k.currency, k.status, k.event_time_us,
       k.version, k.versions, a.distinct_values > 1 AS conflict
FROM keyed k JOIN agreement a USING (partner_id, txn_id)
WHERE k.precedence = 1 AND k.event_date = getvariable('ledger_day');

CREATE OR REPLACE TEMP TABLE ledger_daily_totals AS
SELECT partner_id, currency, status, count(*) AS txn_count,
       CAST(sum(amount_minor) AS BIGINT) AS amount_minor
FROM ledger_transactions
GROUP BY partner_id, currency, status;

CREATE OR REPLACE TEMP VIEW ledger_digest AS
SELECT sha256(
         coalesce((SELECT string_agg(partner_id || chr(9) || txn_id || chr(9) || amount_minor ||
                                     chr(9) || currency || chr(9) || status || chr(9) ||
                                     event_time_us || chr(10), ''
                                     ORDER BY partner_id COLLATE "binary", txn_id COLLATE "binary")
                   FROM ledger_transactions), '') ||
         coalesce((SELECT string_agg(partner_id || chr(9) || currency || chr(9) || status ||
                                     chr(9) || txn_count || chr(9) || amount_minor || chr(10), ''
                                     ORDER BY partner_id COLLATE "binary", currency, status)
                   FROM ledger_daily_totals), '')) AS digest;
