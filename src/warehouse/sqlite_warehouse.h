// The warehouse in one SQLite file (the embedded default): <data_dir>/warehouse.sqlite.
//
// WAL journal, synchronous=FULL: a committed day survives a crash or power loss, and readers in
// other connections or processes keep reading the previous ledger of a day while it is being
// replaced (they see the new one from the commit on). One writer at a time: a second writer
// waits up to `busy_timeout_ms` for the first, then fails with Unavailable.
#pragma once

#include <filesystem>
#include <memory>

#include "core/status.h"
#include "warehouse/warehouse.h"

namespace firehose::warehouse {

inline constexpr std::string_view kSqliteFileName = "warehouse.sqlite";
// The schema version this code writes and reads (warehouse_meta.schema_version), and the
// oldest it upgrades on open (docs/formats/warehouse.md, "Schema versions"). Both warehouses.
inline constexpr int kSchemaVersion = 2;
inline constexpr int kOldestUpgradableSchemaVersion = 1;

struct SqliteOptions {
  // How long a connection waits for another's write lock (a ledger run holds it while it
  // writes its day).
  int busy_timeout_ms = 60'000;
};

// Opens (creating if needed) the SQLite warehouse at `path`, creating the schema when missing and
// upgrading an older version in place. Opening a file that has the current schema only reads it,
// so it never waits for a writer; creating or upgrading the schema takes the write lock (waiting
// up to `busy_timeout_ms`). FailedPrecondition if the file holds a version this code neither
// reads nor upgrades, or SQLite cannot put it in WAL mode.
Result<std::unique_ptr<Warehouse>> OpenSqliteWarehouse(const std::filesystem::path& path,
                                                       SqliteOptions options = {});

}  // namespace firehose::warehouse
