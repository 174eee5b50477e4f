// The warehouse on a PostgreSQL server (issue #6): selected by `[ledger] warehouse_url =
// "postgresql://user@host:port/db"` (any libpq connection string; a password is better kept in
// PGPASSWORD or ~/.pgpass than in the config file).
//
// The same tables, columns and semantics as the SQLite warehouse (docs/formats/warehouse.md):
//  - a day is replaced in one transaction: DELETE of the day's rows, COPY of the new ones, the
//    run record, COMMIT. Until the commit, every other session reads the previous ledger of the
//    day (MVCC); a crash of the writer (kill -9, lost connection) makes the server roll the
//    transaction back, so the old day stays whole.
//  - one day writer at a time per warehouse (a transaction-scoped advisory lock, waited for at
//    most `lock_timeout_ms`, then Unavailable), as with SQLite's single writer; run ids
//    therefore increase in commit order.
//  - text columns use the "C" collation, so ORDER BY partner_id, txn_id is byte order: the
//    same order (and digest order) as SQLite's BINARY collation.
// Commits are durable when the server's synchronous_commit is on (its default).
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "warehouse/warehouse.h"

namespace firehose::warehouse {

struct PostgresOptions {
  // How long BeginDay waits for another writer's lock.
  int lock_timeout_ms = 60'000;
};

// Connects to the server `url` names and creates the schema when missing (serialised between
// concurrent openers by an advisory lock). FailedPrecondition if the database holds another
// schema version; Unavailable if the server cannot be reached. Error messages never include the
// URL (it may hold a password).
Result<std::unique_ptr<Warehouse>> OpenPostgresWarehouse(const std::string& url,
                                                         PostgresOptions options = {});

// Whether a warehouse_url names PostgreSQL (postgresql:// or postgres:// URIs, or a libpq
// key=value string).
bool IsPostgresUrl(std::string_view url);

}  // namespace firehose::warehouse
