#include "warehouse/sqlite_warehouse.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/fault.h"
#include "core/json_integer.h"

namespace firehose::warehouse {

namespace {

// The schema (docs/formats/warehouse.md). TEXT keys compare as bytes (SQLite's BINARY collation),
// so ORDER BY partner_id, txn_id is the ledger's digest order.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS warehouse_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_transactions (
  business_date TEXT NOT NULL,
  partner_id TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  amount_minor INTEGER NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL,
  event_time_us INTEGER NOT NULL,
  version INTEGER,
  versions INTEGER NOT NULL,
  conflict INTEGER NOT NULL,
  source_file INTEGER NOT NULL,
  source_line INTEGER NOT NULL,
  PRIMARY KEY (business_date, partner_id, txn_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_daily_totals (
  business_date TEXT NOT NULL,
  partner_id TEXT NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL,
  txn_count INTEGER NOT NULL,
  amount_minor INTEGER NOT NULL,
  PRIMARY KEY (business_date, partner_id, currency, status)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_conflicts (
  business_date TEXT NOT NULL,
  partner_id TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  versions INTEGER NOT NULL,
  amount_minor INTEGER NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL,
  other_amount_minor INTEGER NOT NULL,
  other_currency TEXT NOT NULL,
  other_status TEXT NOT NULL,
  other_versions INTEGER NOT NULL,
  PRIMARY KEY (business_date, partner_id, txn_id, other_amount_minor, other_currency, other_status)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_runs (
  run_id INTEGER PRIMARY KEY,
  business_date TEXT NOT NULL,
  started_at_us INTEGER NOT NULL,
  finished_at_us INTEGER NOT NULL,
  dedup_window_days INTEGER NOT NULL,
  timezone TEXT NOT NULL,
  partitions INTEGER NOT NULL,
  threads INTEGER NOT NULL,
  memory_bytes_max INTEGER NOT NULL,
  files_read INTEGER NOT NULL,
  bytes_read INTEGER NOT NULL,
  lines_read INTEGER NOT NULL,
  lines_in_day INTEGER NOT NULL,
  versions_read INTEGER NOT NULL,
  keys_booked INTEGER NOT NULL,
  duplicates INTEGER NOT NULL,
  conflicts INTEGER NOT NULL,
  quarantined INTEGER NOT NULL,
  spilled_bytes INTEGER NOT NULL,
  partition_sizes TEXT NOT NULL,
  digest TEXT NOT NULL,
  timings TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_runs_by_date ON ledger_runs (business_date, run_id);
CREATE TABLE IF NOT EXISTS ledger_run_files (
  run_id INTEGER NOT NULL,
  file_index INTEGER NOT NULL,
  path TEXT NOT NULL,
  partition_date TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  lines INTEGER NOT NULL,
  PRIMARY KEY (run_id, file_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_findings (
  business_date TEXT NOT NULL,
  found_by_run INTEGER NOT NULL,
  found_by_date TEXT NOT NULL,
  keys INTEGER NOT NULL,
  examples TEXT NOT NULL,
  PRIMARY KEY (business_date, found_by_run)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_double_bookings (
  found_by_run INTEGER NOT NULL,
  business_date TEXT NOT NULL,
  other_date TEXT NOT NULL,
  found_by_date TEXT NOT NULL,
  kind TEXT NOT NULL,
  keys INTEGER NOT NULL,
  examples TEXT NOT NULL,
  PRIMARY KEY (found_by_run, business_date, other_date)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_double_booking_keys (
  found_by_run INTEGER NOT NULL,
  business_date TEXT NOT NULL,
  other_date TEXT NOT NULL,
  partner_id TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  PRIMARY KEY (found_by_run, business_date, other_date, partner_id, txn_id)
) WITHOUT ROWID;
)sql";

// A double-booking finding's listed keys, each with whether the day the finding is about still
// books it (?1 run, ?2 day, ?3 other day).
constexpr const char* kListedKeysSql =
    "SELECT k.partner_id, k.txn_id, t.txn_id IS NOT NULL FROM ledger_double_booking_keys k "
    "LEFT JOIN ledger_transactions t ON t.business_date = k.business_date AND "
    "t.partner_id = k.partner_id AND t.txn_id = k.txn_id "
    "WHERE k.found_by_run = ?1 AND k.business_date = ?2 AND k.other_date = ?3 "
    "ORDER BY k.partner_id, k.txn_id";

Status SqliteError(sqlite3* db, std::string_view what) {
  const int code = sqlite3_errcode(db);
  std::string message = "warehouse: " + std::string(what) + ": " + sqlite3_errmsg(db);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return Unavailable(message + " (another process is writing the warehouse)");
  }
  if (code == SQLITE_FULL) return ResourceExhausted(message);
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return DataLoss(message);
  return Internal(message);
}

// A prepared statement, reset for reuse after every Step sequence.
class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(statement_); }

  Status Prepare(sqlite3* db, const char* sql) {
    db_ = db;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement_, nullptr) !=
        SQLITE_OK) {
      return SqliteError(db, std::string("preparing ") + sql);
    }
    return Status::Ok();
  }

  void Text(int index, std::string_view text) {
    sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  }
  void Int(int index, std::int64_t value) { sqlite3_bind_int64(statement_, index, value); }
  void OptionalInt(int index, const std::optional<std::int64_t>& value) {
    if (value) {
      sqlite3_bind_int64(statement_, index, *value);
    } else {
      sqlite3_bind_null(statement_, index);
    }
  }

  // Runs a statement that returns no rows, then resets it.
  Status Run(std::string_view what) {
    const int result = sqlite3_step(statement_);
    sqlite3_reset(statement_);
    if (result != SQLITE_DONE) return SqliteError(db_, what);
    return Status::Ok();
  }

  // Steps once: true with a row, false when done (then resets).
  Result<bool> Next(std::string_view what) {
    const int result = sqlite3_step(statement_);
    if (result == SQLITE_ROW) return true;
    sqlite3_reset(statement_);
    if (result != SQLITE_DONE) return SqliteError(db_, what);
    return false;
  }
  void Reset() { sqlite3_reset(statement_); }

  std::int64_t ColumnInt(int column) const { return sqlite3_column_int64(statement_, column); }
  std::optional<std::int64_t> ColumnOptionalInt(int column) const {
    if (sqlite3_column_type(statement_, column) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_int64(statement_, column);
  }
  // Valid until the next Next/Reset.
  std::string_view ColumnView(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    if (text == nullptr) return {};
    return {text, static_cast<std::size_t>(sqlite3_column_bytes(statement_, column))};
  }
  std::string ColumnText(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    return text == nullptr
               ? std::string()
               : std::string(text,
                             static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* statement_ = nullptr;
};

Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    Status status = SqliteError(db, sql);
    return Status(status.code(), "warehouse: " + message);
  }
  return Status::Ok();
}

Result<TxnStatus> StatusColumn(const Statement& statement, int column) {
  const std::string name = statement.ColumnText(column);
  const std::optional<TxnStatus> status = TxnStatusFromName(name);
  if (!status) return DataLoss("warehouse: unknown status '" + name + "' in a row");
  return *status;
}

Result<BusinessDate> DateColumn(const Statement& statement, int column) {
  const std::string text = statement.ColumnText(column);
  Result<BusinessDate> date = BusinessDate::Parse(text);
  if (!date.ok()) return DataLoss("warehouse: bad date '" + text + "' in a row");
  return *date;
}

constexpr const char* kRunColumns =
    "run_id, business_date, started_at_us, finished_at_us, dedup_window_days, timezone, "
    "partitions, threads, memory_bytes_max, files_read, bytes_read, lines_read, lines_in_day, "
    "versions_read, keys_booked, duplicates, conflicts, quarantined, spilled_bytes, "
    "partition_sizes, digest, timings";

Result<RunRecord> ReadRun(const Statement& s) {
  RunRecord run;
  run.run_id = s.ColumnInt(0);
  FH_ASSIGN_OR_RETURN(run.business_date, DateColumn(s, 1));
  run.started_at = TimestampUs(s.ColumnInt(2));
  run.finished_at = TimestampUs(s.ColumnInt(3));
  run.dedup_window_days = s.ColumnInt(4);
  run.timezone = s.ColumnText(5);
  run.partitions = s.ColumnInt(6);
  run.threads = s.ColumnInt(7);
  run.memory_bytes_max = s.ColumnInt(8);
  run.files_read = s.ColumnInt(9);
  run.bytes_read = s.ColumnInt(10);
  run.lines_read = s.ColumnInt(11);
  run.lines_in_day = s.ColumnInt(12);
  run.versions_read = s.ColumnInt(13);
  run.keys_booked = s.ColumnInt(14);
  run.duplicates = s.ColumnInt(15);
  run.conflicts = s.ColumnInt(16);
  run.quarantined = s.ColumnInt(17);
  run.spilled_bytes = s.ColumnInt(18);
  const nlohmann::json sizes =
      nlohmann::json::parse(s.ColumnText(19), nullptr, /*allow_exceptions=*/false);
  if (!sizes.is_array()) return DataLoss("warehouse: ledger_runs.partition_sizes is not an array");
  for (const nlohmann::json& size : sizes) {
    const std::optional<std::int64_t> number = JsonInteger<std::int64_t>(size);
    if (!number) return DataLoss("warehouse: a partition size is not an integer");
    run.partition_sizes.push_back(*number);
  }
  run.digest = s.ColumnText(20);
  run.timings_json = s.ColumnText(21);
  return run;
}

// Owns a connection. sqlite3_close_v2 waits for the connection's statements to be finalised.
struct Connection {
  explicit Connection(sqlite3* handle) : db(handle) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { sqlite3_close_v2(db); }
  sqlite3* db;
};

class SqliteLookup : public BookingLookup {
 public:
  SqliteLookup(sqlite3* db, BusinessDate day)
      : connection_(db), db_(db), day_text_(day.ToString()) {}

  Status Prepare() {
    return find_.Prepare(db_,
                         "SELECT amount_minor, currency, status, event_time_us, version, versions, "
                         "conflict, source_file, source_line FROM ledger_transactions "
                         "WHERE business_date = ?1 AND partner_id = ?2 AND txn_id = ?3");
  }

  Result<std::optional<TransactionRow>> Find(std::string_view partner_id,
                                             std::string_view txn_id) override {
    find_.Text(1, day_text_);
    find_.Text(2, partner_id);
    find_.Text(3, txn_id);
    FH_ASSIGN_OR_RETURN(const bool found, find_.Next("looking up a booking"));
    if (!found) return std::optional<TransactionRow>();
    TransactionRow row;
    FH_ASSIGN_OR_RETURN(row.business_date, BusinessDate::Parse(day_text_));
    row.partner_id = std::string(partner_id);
    row.txn_id = std::string(txn_id);
    row.amount = AmountMinor(find_.ColumnInt(0));
    row.currency = find_.ColumnText(1);
    Result<TxnStatus> status = StatusColumn(find_, 2);
    row.event_time = TimestampUs(find_.ColumnInt(3));
    row.version = find_.ColumnOptionalInt(4);
    row.versions = find_.ColumnInt(5);
    row.conflict = find_.ColumnInt(6) != 0;
    row.source_file = find_.ColumnInt(7);
    row.source_line = find_.ColumnInt(8);
    find_.Reset();
    if (!status.ok()) return status.status();
    row.status = *status;
    return std::optional<TransactionRow>(std::move(row));
  }

 private:
  Connection connection_;  // closed last, after the statement is finalised
  sqlite3* db_;
  std::string day_text_;
  Statement find_;
};

class SqliteKeyCursor : public KeyCursor {
 public:
  SqliteKeyCursor(sqlite3* db, BusinessDate day)
      : connection_(db), db_(db), day_text_(day.ToString()) {}

  // The statement's read transaction (one snapshot of the day) lasts until the end or the
  // cursor's destruction.
  Status Prepare() {
    FH_RETURN_IF_ERROR(select_.Prepare(db_,
                                       "SELECT partner_id, txn_id FROM ledger_transactions "
                                       "WHERE business_date = ?1 ORDER BY partner_id, txn_id"));
    select_.Text(1, day_text_);
    return Status::Ok();
  }

  Result<bool> Next(Key* key) override {
    if (done_) return false;
    FH_ASSIGN_OR_RETURN(const bool more, select_.Next("reading a day's keys"));
    if (!more) {
      done_ = true;
      return false;
    }
    key->first.assign(select_.ColumnView(0));
    key->second.assign(select_.ColumnView(1));
    return true;
  }

 private:
  Connection connection_;  // closed last, after the statement is finalised
  sqlite3* db_;
  std::string day_text_;
  Statement select_;
  bool done_ = false;
};

// The page cache a connection gets until SetCacheBytes says otherwise.
constexpr std::int64_t kDefaultCacheBytes = 64 << 20;
// What a connection holds besides its page cache content: per-page headers (~2% at 16 KiB pages),
// the schema, prepared statements, lookaside, the WAL index mapping.
std::int64_t ResidentBytes(std::int64_t cache_bytes) {
  return cache_bytes + cache_bytes / 32 + (2 << 20);
}

Status SetCacheSize(sqlite3* db, std::int64_t bytes) {
  const std::string pragma =
      "PRAGMA cache_size=-" + std::to_string(std::max<std::int64_t>(bytes >> 10, 64));
  return Exec(db, pragma.c_str());
}

// Readers keep reading while a day is written only in WAL mode (docs/formats/warehouse.md).
// journal_mode answers with the mode in effect, which stays the old one where SQLite cannot
// switch (no shared memory for the WAL index, say): refused rather than left to block readers.
Status TryEnableWal(sqlite3* db) {
  Statement pragma;
  FH_RETURN_IF_ERROR(pragma.Prepare(db, "PRAGMA journal_mode=WAL"));
  FH_ASSIGN_OR_RETURN(const bool answered, pragma.Next("setting the WAL journal mode"));
  const std::string mode = answered ? pragma.ColumnText(0) : std::string();
  pragma.Reset();
  if (mode != "wal") {
    return FailedPrecondition("warehouse: the journal mode is '" + mode +
                              "', not wal: readers would wait for the writer");
  }
  return Status::Ok();
}

// Switching a new file to WAL needs its exclusive lock, and SQLite answers SQLITE_BUSY at once,
// without its busy handler, when another connection takes it meanwhile (processes opening a new
// data directory together): retried until busy_timeout_ms, as the busy handler would.
Status EnableWal(sqlite3* db, std::int64_t busy_timeout_ms) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  while (true) {
    Status status = TryEnableWal(db);
    if (status.code() != StatusCode::kUnavailable || std::chrono::steady_clock::now() >= deadline)
      return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Result<sqlite3*> OpenConnection(const std::filesystem::path& path, const SqliteOptions& options,
                                std::int64_t cache_bytes) {
  // SQLite's allocation statistics take a global mutex on every malloc (a tenth of a bulk
  // insert); nothing here reads them. Only possible before the library initialises.
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Status status = Internal("warehouse: opening " + path.string() + ": " +
                             (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close_v2(db);
    return status;
  }
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  sqlite3_extended_result_codes(db, 0);
  // page_size applies to a new file only, before its first page is written (journal_mode=WAL
  // writes it); larger pages make the ordered bulk inserts of a day cheaper (fewer page splits
  // and B-tree levels).
  Status status = Exec(db, "PRAGMA page_size=16384");
  if (status.ok()) status = EnableWal(db, options.busy_timeout_ms);
  for (const char* pragma : {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=OFF"}) {
    if (status.ok()) status = Exec(db, pragma);
  }
  if (status.ok()) status = SetCacheSize(db, cache_bytes);
  if (!status.ok()) {
    sqlite3_close_v2(db);
    return status.WithContext(path.string());
  }
  return db;
}

class SqliteWarehouse : public Warehouse {
 public:
  SqliteWarehouse(sqlite3* db, std::filesystem::path path, SqliteOptions options)
      : connection_(db), db_(db), path_(std::move(path)), options_(options) {}

  // A file that has the current schema is only read here (a WAL read snapshot, which never
  // waits for a writer): `ledger status` and `ledger show` must work while a day is being
  // written. The write lock is taken only to create the schema or to upgrade an older one (once);
  // two processes doing it at once serialise on that lock, and the second finds the first's
  // version under it.
  Status Init() {
    FH_ASSIGN_OR_RETURN(const std::optional<std::string> version, ReadSchemaVersion());
    if (version && *version == std::to_string(kSchemaVersion)) return Status::Ok();
    if (version) FH_RETURN_IF_ERROR(CheckUpgradable(*version));
    return CreateOrUpgradeSchema();
  }

  Result<std::unique_ptr<DayWriter>> BeginDay(BusinessDate day) override;

  Result<std::vector<TotalRow>> ReadTotals(BusinessDate day) override {
    Statement s;
    FH_RETURN_IF_ERROR(s.Prepare(db_,
                                 "SELECT partner_id, currency, status, txn_count, amount_minor "
                                 "FROM ledger_daily_totals WHERE business_date = ?1 "
                                 "ORDER BY partner_id, currency, status"));
    const std::string day_text = day.ToString();
    s.Text(1, day_text);
    std::vector<TotalRow> rows;
    while (true) {
      FH_ASSIGN_OR_RETURN(const bool more, s.Next("reading totals"));
      if (!more) break;
      TotalRow row;
      row.business_date = day;
      row.partner_id = s.ColumnText(0);
      row.currency = s.ColumnText(1);
      FH_ASSIGN_OR_RETURN(row.status, StatusColumn(s, 2));
      row.txn_count = s.ColumnInt(3);
      row.amount = AmountMinor(s.ColumnInt(4));
      rows.push_back(std::move(row));
    }
    return rows;
  }

  Result<std::vector<ConflictRow>> ReadConflicts(BusinessDate day) override {
    Statement s;
    FH_RETURN_IF_ERROR(s.Prepare(
        db_,
        "SELECT partner_id, txn_id, versions, amount_minor, currency, status, other_amount_minor, "
        "other_currency, other_status, other_versions FROM ledger_conflicts "
        "WHERE business_date = ?1 "
        "ORDER BY partner_id, txn_id, other_amount_minor, other_currency, other_status"));
    const std::string day_text = day.ToString();
    s.Text(1, day_text);
    std::vector<ConflictRow> rows;
    while (true) {
      FH_ASSIGN_OR_RETURN(const bool more, s.Next("reading conflicts"));
      if (!more) break;
      ConflictRow row;
      row.business_date = day;
      row.partner_id = s.ColumnText(0);
      row.txn_id = s.ColumnText(1);
      row.versions = s.ColumnInt(2);
      row.amount = AmountMinor(s.ColumnInt(3));
      row.currency = s.ColumnText(4);
      FH_ASSIGN_OR_RETURN(row.status, StatusColumn(s, 5));
      row.other_amount = AmountMinor(s.ColumnInt(6));
      row.other_currency = s.ColumnText(7);
      FH_ASSIGN_OR_RETURN(row.other_status, StatusColumn(s, 8));
      row.other_versions = s.ColumnInt(9);
      rows.push_back(std::move(row));
    }
    return rows;
  }

  Status ForEachTransaction(BusinessDate day,
                            const std::function<bool(const TransactionRow&)>& visit) override {
    Statement s;
    FH_RETURN_IF_ERROR(s.Prepare(
        db_,
        "SELECT partner_id, txn_id, amount_minor, currency, status, event_time_us, version, "
        "versions, conflict, source_file, source_line FROM ledger_transactions "
        "WHERE business_date = ?1 ORDER BY partner_id, txn_id"));
    const std::string day_text = day.ToString();
    s.Text(1, day_text);
    TransactionRow row;
    row.business_date = day;
    while (true) {
      FH_ASSIGN_OR_RETURN(const bool more, s.Next("reading transactions"));
      if (!more) break;
      row.partner_id = s.ColumnText(0);
      row.txn_id = s.ColumnText(1);
      row.amount = AmountMinor(s.ColumnInt(2));
      row.currency = s.ColumnText(3);
      Result<TxnStatus> status = StatusColumn(s, 4);
      if (!status.ok()) {
        s.Reset();
        return status.status();
      }
      row.status = *status;
      row.event_time = TimestampUs(s.ColumnInt(5));
      row.version = s.ColumnOptionalInt(6);
      row.versions = s.ColumnInt(7);
      row.conflict = s.ColumnInt(8) != 0;
      row.source_file = s.ColumnInt(9);
      row.source_line = s.ColumnInt(10);
      if (!visit(row)) {
        s.Reset();
        break;
      }
    }
    return Status::Ok();
  }

  Result<std::optional<RunRecord>> LatestRun(BusinessDate day) override {
    Statement s;
    const std::string sql = std::string("SELECT ") + kRunColumns +
                            " FROM ledger_runs WHERE business_date = ?1 "
                            "ORDER BY run_id DESC LIMIT 1";
    FH_RETURN_IF_ERROR(s.Prepare(db_, sql.c_str()));
    const std::string day_text = day.ToString();
    s.Text(1, day_text);
    FH_ASSIGN_OR_RETURN(const bool found, s.Next("reading the latest run"));
    if (!found) return std::optional<RunRecord>();
    Result<RunRecord> run = ReadRun(s);
    s.Reset();
    if (!run.ok()) return run.status();
    return std::optional<RunRecord>(std::move(*run));
  }

  Result<std::vector<DaySummary>> Days() override {
    Statement s;
    const std::string sql = std::string("SELECT ") + kRunColumns +
                            " FROM ledger_runs WHERE run_id IN (SELECT max(run_id) FROM "
                            "ledger_runs GROUP BY business_date) ORDER BY business_date";
    FH_RETURN_IF_ERROR(s.Prepare(db_, sql.c_str()));
    std::vector<DaySummary> days;
    while (true) {
      FH_ASSIGN_OR_RETURN(const bool more, s.Next("listing days"));
      if (!more) break;
      Result<RunRecord> run = ReadRun(s);
      if (!run.ok()) {
        s.Reset();
        return run.status();
      }
      days.push_back({run->business_date, std::move(*run)});
    }
    return days;
  }

  Result<std::vector<RunFile>> RunFiles(std::int64_t run_id) override {
    Statement s;
    FH_RETURN_IF_ERROR(s.Prepare(db_,
                                 "SELECT file_index, path, partition_date, bytes, sha256, lines "
                                 "FROM ledger_run_files WHERE run_id = ?1 ORDER BY file_index"));
    s.Int(1, run_id);
    std::vector<RunFile> files;
    while (true) {
      FH_ASSIGN_OR_RETURN(const bool more, s.Next("reading a run's files"));
      if (!more) break;
      RunFile file;
      file.index = s.ColumnInt(0);
      file.path = s.ColumnText(1);
      Result<BusinessDate> date = DateColumn(s, 2);
      if (!date.ok()) {
        s.Reset();
        return date.status();
      }
      file.partition_date = *date;
      file.bytes = static_cast<std::uint64_t>(s.ColumnInt(3));
      file.sha256 = s.ColumnText(4);
      file.lines = static_cast<std::uint64_t>(s.ColumnInt(5));
      files.push_back(std::move(file));
    }
    return files;
  }

  Result<std::vector<Finding>> FindingsAbout(BusinessDate day, std::int64_t after_run) override {
    Statement s;
    FH_RETURN_IF_ERROR(s.Prepare(db_,
                                 "SELECT found_by_run, found_by_date, keys, examples "
                                 "FROM ledger_findings WHERE business_date = ?1 AND "
                                 "found_by_run > ?2 ORDER BY found_by_run"));
    const std::string day_text = day.ToString();
    s.Text(1, day_text);
    s.Int(2, after_run);
    std::vector<Finding> findings;
    while (true) {
      FH_ASSIGN_OR_RETURN(const bool more, s.Next("reading findings"));
      if (!more) break;
      Finding finding;
      finding.found_by_run = s.ColumnInt(0);
      Result<BusinessDate> date = DateColumn(s, 1);
      if (!date.ok()) {
        s.Reset();
        return date.status();
      }
      finding.found_by_date = *date;
      finding.business_date = day;
      finding.keys = s.ColumnInt(2);
      finding.examples = s.ColumnText(3);
      findings.push_back(std::move(finding));
    }
    return findings;
  }

  Result<std::unique_ptr<BookingLookup>> OpenLookup(BusinessDate day) override {
    FH_ASSIGN_OR_RETURN(sqlite3 * db, OpenConnection(path_, options_, cache_bytes_.lookup));
    auto lookup = std::make_unique<SqliteLookup>(db, day);
    FH_RETURN_IF_ERROR(lookup->Prepare());
    return std::unique_ptr<BookingLookup>(std::move(lookup));
  }

  Result<std::unique_ptr<KeyCursor>> OpenKeyCursor(BusinessDate day) override {
    FH_ASSIGN_OR_RETURN(sqlite3 * db, OpenConnection(path_, options_, cache_bytes_.lookup));
    auto cursor = std::make_unique<SqliteKeyCursor>(db, day);
    FH_RETURN_IF_ERROR(cursor->Prepare());
    return std::unique_ptr<KeyCursor>(std::move(cursor));
  }

  // One read transaction, so that the findings and the bookings they are checked against are
  // one snapshot.
  Result<std::vector<DoubleBooking>> DoubleBookings() override {
    FH_RETURN_IF_ERROR(Exec(db_, "BEGIN DEFERRED"));
    Result<std::vector<DoubleBooking>> found = DoubleBookingsInTransaction();
    const Status ended = Exec(db_, found.ok() ? "COMMIT" : "ROLLBACK");
    if (found.ok() && !ended.ok()) return ended;
    return found;
  }

  Status SetCacheBytes(CacheBytes bytes) override {
    FH_RETURN_IF_ERROR(SetCacheSize(db_, bytes.writer));
    cache_bytes_ = bytes;
    return Status::Ok();
  }
  CacheBytes ResidentBytesMax() const override {
    return {.writer = ResidentBytes(cache_bytes_.writer),
            .lookup = ResidentBytes(cache_bytes_.lookup)};
  }

 private:
  // The schema version the file holds; nullopt when it has no schema yet. One read transaction.
  Result<std::optional<std::string>> ReadSchemaVersion() {
    FH_RETURN_IF_ERROR(Exec(db_, "BEGIN DEFERRED"));
    Result<std::optional<std::string>> version = ReadSchemaVersionInTransaction();
    const Status ended = Exec(db_, version.ok() ? "COMMIT" : "ROLLBACK");
    if (version.ok() && !ended.ok()) return ended;
    return version;
  }

  Result<std::optional<std::string>> ReadSchemaVersionInTransaction() {
    Statement table;
    FH_RETURN_IF_ERROR(table.Prepare(
        db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'warehouse_meta'"));
    FH_ASSIGN_OR_RETURN(const bool has_table, table.Next("looking for the schema"));
    table.Reset();
    if (!has_table) return std::optional<std::string>();
    Statement read;
    FH_RETURN_IF_ERROR(
        read.Prepare(db_, "SELECT value FROM warehouse_meta WHERE key = 'schema_version'"));
    FH_ASSIGN_OR_RETURN(const bool found, read.Next("reading the schema version"));
    if (!found) return std::optional<std::string>();
    std::optional<std::string> version = read.ColumnText(0);
    read.Reset();
    return version;
  }

  // Creates the schema, or upgrades an older version, under the write lock (waiting up to
  // busy_timeout_ms for a writer), in one transaction: a crash leaves the file as it was.
  Status CreateOrUpgradeSchema() {
    FH_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
    Status status = CreateOrUpgradeInTransaction();
    if (!status.ok()) {
      (void)Exec(db_, "ROLLBACK");
      return status;
    }
    return Exec(db_, "COMMIT");
  }

  // Another process may have created or upgraded the schema first: the version is read again
  // under the lock. Every version so far only added tables, so kSchema (CREATE TABLE IF NOT
  // EXISTS) brings any older one up to date; then the version is written.
  Status CreateOrUpgradeInTransaction() {
    FH_ASSIGN_OR_RETURN(const std::optional<std::string> version, ReadSchemaVersionInTransaction());
    const std::string ours = std::to_string(kSchemaVersion);
    if (version && *version == ours) return Status::Ok();
    if (version) FH_RETURN_IF_ERROR(CheckUpgradable(*version));
    FH_RETURN_IF_ERROR(Exec(db_, kSchema));
    Statement write;
    FH_RETURN_IF_ERROR(write.Prepare(
        db_, "INSERT OR REPLACE INTO warehouse_meta (key, value) VALUES ('schema_version', ?1)"));
    write.Text(1, ours);
    FH_RETURN_IF_ERROR(write.Run("writing the schema version"));
    if (version) {
      spdlog::info("warehouse {}: schema upgraded from version {} to {}", path_.string(), *version,
                   ours);
    }
    return Status::Ok();
  }

  // Versions kOldestUpgradableSchemaVersion.. are upgraded; any other (a newer firehose's file,
  // or something else) is refused, never guessed at.
  Result<std::vector<DoubleBooking>> DoubleBookingsInTransaction() {
    Statement s;
    FH_RETURN_IF_ERROR(s.Prepare(
        db_,
        "SELECT f.found_by_run, f.business_date, f.other_date, f.found_by_date, f.kind, f.keys, "
        "f.examples FROM ledger_double_bookings f WHERE f.found_by_run = (SELECT max(r.run_id) "
        "FROM ledger_runs r WHERE r.business_date = f.found_by_date) "
        "ORDER BY f.business_date, f.other_date, f.found_by_run"));
    std::vector<DoubleBooking> out;
    while (true) {
      FH_ASSIGN_OR_RETURN(const bool more, s.Next("reading double bookings"));
      if (!more) break;
      Result<DoubleBooking> booking = ReadDoubleBooking(s);
      if (!booking.ok()) {
        s.Reset();
        return booking.status();
      }
      out.push_back(std::move(*booking));
    }
    for (DoubleBooking& booking : out) FH_RETURN_IF_ERROR(ReadListedKeys(&booking));
    return out;
  }

  static Result<DoubleBooking> ReadDoubleBooking(const Statement& s) {
    DoubleBooking booking;
    Finding& finding = booking.finding;
    finding.found_by_run = s.ColumnInt(0);
    FH_ASSIGN_OR_RETURN(finding.business_date, DateColumn(s, 1));
    FH_ASSIGN_OR_RETURN(finding.other_date, DateColumn(s, 2));
    FH_ASSIGN_OR_RETURN(finding.found_by_date, DateColumn(s, 3));
    const std::string kind = s.ColumnText(4);
    const std::optional<FindingKind> parsed = FindingKindFromName(kind);
    if (!parsed || *parsed == FindingKind::kStale) {
      return DataLoss("warehouse: unknown double-booking kind '" + kind + "'");
    }
    finding.kind = *parsed;
    finding.keys = s.ColumnInt(5);
    finding.examples = s.ColumnText(6);
    return booking;
  }

  Status ReadListedKeys(DoubleBooking* booking) {
    Finding& finding = booking->finding;
    Statement s;
    FH_RETURN_IF_ERROR(s.Prepare(db_, kListedKeysSql));
    const std::string day = finding.business_date.ToString();
    const std::string other = finding.other_date.ToString();
    s.Int(1, finding.found_by_run);
    s.Text(2, day);
    s.Text(3, other);
    while (true) {
      FH_ASSIGN_OR_RETURN(const bool more, s.Next("reading a double booking's keys"));
      if (!more) break;
      booking->AddListedKey(Key{s.ColumnText(0), s.ColumnText(1)}, s.ColumnInt(2) != 0);
    }
    return Status::Ok();
  }

  Status CheckUpgradable(const std::string& version) const {
    for (int older = kOldestUpgradableSchemaVersion; older < kSchemaVersion; ++older) {
      if (version == std::to_string(older)) return Status::Ok();
    }
    return FailedPrecondition("warehouse " + path_.string() + " has schema version " + version +
                              "; this firehose reads version " + std::to_string(kSchemaVersion) +
                              " and upgrades versions " +
                              std::to_string(kOldestUpgradableSchemaVersion) + " to " +
                              std::to_string(kSchemaVersion - 1));
  }

  Connection connection_;
  sqlite3* db_;
  std::filesystem::path path_;
  SqliteOptions options_;
  CacheBytes cache_bytes_{.writer = kDefaultCacheBytes, .lookup = kDefaultCacheBytes};
};

class SqliteDayWriter : public DayWriter {
 public:
  SqliteDayWriter(sqlite3* db, BusinessDate day) : db_(db), day_(day), day_text_(day.ToString()) {}
  ~SqliteDayWriter() override {
    if (open_) (void)Exec(db_, "ROLLBACK");
  }

  Status Begin() {
    FH_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
    open_ = true;
    for (const char* table : {"ledger_transactions", "ledger_daily_totals", "ledger_conflicts"}) {
      Statement remove;
      const std::string sql = std::string("DELETE FROM ") + table + " WHERE business_date = ?1";
      FH_RETURN_IF_ERROR(remove.Prepare(db_, sql.c_str()));
      remove.Text(1, day_text_);
      FH_RETURN_IF_ERROR(remove.Run(std::string("deleting the day from ") + table));
    }
    FH_RETURN_IF_ERROR(insert_transaction_.Prepare(db_, InsertTransactionsSql(1).c_str()));
    FH_RETURN_IF_ERROR(
        insert_transactions_.Prepare(db_, InsertTransactionsSql(kRowsPerInsert).c_str()));
    // The day (?1) is the same in every row: bound once, bindings survive resets.
    insert_transaction_.Text(1, day_text_);
    insert_transactions_.Text(1, day_text_);
    pending_.resize(kRowsPerInsert);
    FH_RETURN_IF_ERROR(insert_total_.Prepare(
        db_,
        "INSERT INTO ledger_daily_totals (business_date, partner_id, currency, status, txn_count, "
        "amount_minor) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    FH_RETURN_IF_ERROR(insert_conflict_.Prepare(
        db_,
        "INSERT INTO ledger_conflicts (business_date, partner_id, txn_id, versions, amount_minor, "
        "currency, status, other_amount_minor, other_currency, other_status, other_versions) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
    return Status::Ok();
  }

  // Rows are kept until kRowsPerInsert of them go in one INSERT (one statement step for many
  // rows: the bulk load of a day spends less in the VDBE and binding).
  Status AddTransaction(const TransactionRow& row) override {
    FH_RETURN_IF_ERROR(CheckOpen());
    FH_RETURN_IF_ERROR(CheckDay(row.business_date));
    pending_[pending_rows_++] = row;
    if (pending_rows_ < kRowsPerInsert) return Status::Ok();
    return FlushTransactions();
  }

  Status AddTotal(const TotalRow& row) override {
    FH_RETURN_IF_ERROR(CheckOpen());
    FH_RETURN_IF_ERROR(CheckDay(row.business_date));
    Statement& s = insert_total_;
    s.Text(1, day_text_);
    s.Text(2, row.partner_id);
    s.Text(3, row.currency);
    s.Text(4, TxnStatusName(row.status));
    s.Int(5, row.txn_count);
    s.Int(6, row.amount.value());
    return s.Run("inserting a total");
  }

  Status AddConflict(const ConflictRow& row) override {
    FH_RETURN_IF_ERROR(CheckOpen());
    FH_RETURN_IF_ERROR(CheckDay(row.business_date));
    Statement& s = insert_conflict_;
    s.Text(1, day_text_);
    s.Text(2, row.partner_id);
    s.Text(3, row.txn_id);
    s.Int(4, row.versions);
    s.Int(5, row.amount.value());
    s.Text(6, row.currency);
    s.Text(7, TxnStatusName(row.status));
    s.Int(8, row.other_amount.value());
    s.Text(9, row.other_currency);
    s.Text(10, TxnStatusName(row.other_status));
    s.Int(11, row.other_versions);
    return s.Run("inserting a conflict");
  }

  Result<std::int64_t> Commit(RunRecord run, const std::vector<RunFile>& files,
                              const std::vector<Finding>& findings) override {
    FH_RETURN_IF_ERROR(CheckOpen());
    FH_RETURN_IF_ERROR(CheckDay(run.business_date));
    FH_RETURN_IF_ERROR(FlushTransactions());
    FH_ASSIGN_OR_RETURN(const std::int64_t run_id, InsertRun(run));
    FH_RETURN_IF_ERROR(InsertFiles(run_id, files));
    FH_RETURN_IF_ERROR(InsertFindings(run_id, findings));
    if (const int injected = fault::Check(kProbeBeforeCommit)) {
      return ErrnoStatus(std::string(kProbeBeforeCommit) + " (injected)", injected);
    }
    // Statements must be finalised or reset before COMMIT; they are reset after every Run.
    FH_RETURN_IF_ERROR(Exec(db_, "COMMIT"));
    open_ = false;
    return run_id;
  }

 private:
  static constexpr int kRowsPerInsert = 32;
  static constexpr int kTransactionColumns = 11;  // besides the day

  // INSERT ... VALUES (?1, ?2, .. ?12), (?1, ?13, .. ?23), ...: `rows` rows sharing ?1.
  // OR ROLLBACK: a statement of several rows that may fail half-way would otherwise keep a
  // statement journal (a copy of every page it touches, in a temporary file: seven writes per
  // statement, slower than one row per statement). A duplicate key is a bug that fails the whole
  // day anyway; the writer is closed after it (see Failed).
  static std::string InsertTransactionsSql(int rows) {
    std::string sql =
        "INSERT OR ROLLBACK INTO ledger_transactions (business_date, partner_id, txn_id, "
        "amount_minor, "
        "currency, status, event_time_us, version, versions, conflict, source_file, source_line) "
        "VALUES ";
    for (int r = 0; r < rows; ++r) {
      sql += r == 0 ? "(?1" : ", (?1";
      for (int c = 0; c < kTransactionColumns; ++c) {
        sql += ", ?" + std::to_string(2 + r * kTransactionColumns + c);
      }
      sql += ")";
    }
    return sql;
  }

  static void BindTransaction(Statement* s, int first, const TransactionRow& row) {
    s->Text(first, row.partner_id);
    s->Text(first + 1, row.txn_id);
    s->Int(first + 2, row.amount.value());
    s->Text(first + 3, row.currency);
    s->Text(first + 4, TxnStatusName(row.status));
    s->Int(first + 5, row.event_time.value());
    s->OptionalInt(first + 6, row.version);
    s->Int(first + 7, row.versions);
    s->Int(first + 8, row.conflict ? 1 : 0);
    s->Int(first + 9, row.source_file);
    s->Int(first + 10, row.source_line);
  }

  Status FlushTransactions() {
    if (pending_rows_ == kRowsPerInsert) {
      for (int r = 0; r < kRowsPerInsert; ++r) {
        BindTransaction(&insert_transactions_, 2 + r * kTransactionColumns,
                        pending_[static_cast<std::size_t>(r)]);
      }
      pending_rows_ = 0;
      return Failed(insert_transactions_.Run("inserting transactions"));
    }
    for (int r = 0; r < pending_rows_; ++r) {
      BindTransaction(&insert_transaction_, 2, pending_[static_cast<std::size_t>(r)]);
      FH_RETURN_IF_ERROR(Failed(insert_transaction_.Run("inserting a transaction")));
    }
    pending_rows_ = 0;
    return Status::Ok();
  }

  // After an error that ended the transaction (OR ROLLBACK), nothing more may be written: it
  // would be committed row by row outside the day's transaction.
  Status Failed(Status status) {
    if (!status.ok() && sqlite3_get_autocommit(db_) != 0) open_ = false;
    return status;
  }

  Status CheckOpen() const {
    if (!open_) return FailedPrecondition("warehouse: the day's transaction is not open");
    return Status::Ok();
  }

  Status CheckDay(BusinessDate date) const {
    if (date != day_) {
      return InvalidArgument("warehouse: a row of " + date.ToString() + " in the write of " +
                             day_text_);
    }
    return Status::Ok();
  }

  Result<std::int64_t> InsertRun(const RunRecord& run) {
    Statement s;
    const std::string sql = std::string("INSERT INTO ledger_runs (") + kRunColumns +
                            ") VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                            "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";
    FH_RETURN_IF_ERROR(s.Prepare(db_, sql.c_str()));
    nlohmann::json sizes = run.partition_sizes;
    const std::string sizes_text = sizes.dump();
    const std::string timings = run.timings_json.empty() ? "{}" : run.timings_json;
    s.Text(1, day_text_);
    s.Int(2, run.started_at.value());
    s.Int(3, run.finished_at.value());
    s.Int(4, run.dedup_window_days);
    s.Text(5, run.timezone);
    s.Int(6, run.partitions);
    s.Int(7, run.threads);
    s.Int(8, run.memory_bytes_max);
    s.Int(9, run.files_read);
    s.Int(10, run.bytes_read);
    s.Int(11, run.lines_read);
    s.Int(12, run.lines_in_day);
    s.Int(13, run.versions_read);
    s.Int(14, run.keys_booked);
    s.Int(15, run.duplicates);
    s.Int(16, run.conflicts);
    s.Int(17, run.quarantined);
    s.Int(18, run.spilled_bytes);
    s.Text(19, sizes_text);
    s.Text(20, run.digest);
    s.Text(21, timings);
    FH_RETURN_IF_ERROR(s.Run("inserting the run"));
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
  }

  Status InsertFiles(std::int64_t run_id, const std::vector<RunFile>& files) {
    Statement s;
    FH_RETURN_IF_ERROR(
        s.Prepare(db_,
                  "INSERT INTO ledger_run_files (run_id, file_index, path, partition_date, bytes, "
                  "sha256, lines) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    for (const RunFile& file : files) {
      const std::string date = file.partition_date.ToString();
      s.Int(1, run_id);
      s.Int(2, file.index);
      s.Text(3, file.path);
      s.Text(4, date);
      s.Int(5, static_cast<std::int64_t>(file.bytes));
      s.Text(6, file.sha256);
      s.Int(7, static_cast<std::int64_t>(file.lines));
      FH_RETURN_IF_ERROR(s.Run("inserting a run file"));
    }
    return Status::Ok();
  }

  Status InsertFindings(std::int64_t run_id, const std::vector<Finding>& findings) {
    Statement stale;
    FH_RETURN_IF_ERROR(
        stale.Prepare(db_,
                      "INSERT INTO ledger_findings (business_date, found_by_run, found_by_date, "
                      "keys, examples) VALUES (?1, ?2, ?3, ?4, ?5)"));
    Statement double_booking;
    FH_RETURN_IF_ERROR(double_booking.Prepare(
        db_,
        "INSERT INTO ledger_double_bookings (found_by_run, business_date, other_date, "
        "found_by_date, kind, keys, examples) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    Statement key;
    FH_RETURN_IF_ERROR(
        key.Prepare(db_,
                    "INSERT INTO ledger_double_booking_keys (found_by_run, business_date, "
                    "other_date, partner_id, txn_id) VALUES (?1, ?2, ?3, ?4, ?5)"));
    for (const Finding& finding : findings) {
      const std::string date = finding.business_date.ToString();
      if (finding.kind == FindingKind::kStale) {
        stale.Text(1, date);
        stale.Int(2, run_id);
        stale.Text(3, day_text_);
        stale.Int(4, finding.keys);
        stale.Text(5, finding.examples);
        FH_RETURN_IF_ERROR(stale.Run("inserting a finding"));
        continue;
      }
      const std::string other = finding.other_date.ToString();
      double_booking.Int(1, run_id);
      double_booking.Text(2, date);
      double_booking.Text(3, other);
      double_booking.Text(4, day_text_);
      double_booking.Text(5, FindingKindName(finding.kind));
      double_booking.Int(6, finding.keys);
      double_booking.Text(7, finding.examples);
      FH_RETURN_IF_ERROR(double_booking.Run("inserting a double booking"));
      for (const Key& listed : finding.listed_keys) {
        key.Int(1, run_id);
        key.Text(2, date);
        key.Text(3, other);
        key.Text(4, listed.first);
        key.Text(5, listed.second);
        FH_RETURN_IF_ERROR(key.Run("inserting a double booking's key"));
      }
    }
    return Status::Ok();
  }

  sqlite3* db_;
  BusinessDate day_;
  std::string day_text_;
  bool open_ = false;
  std::vector<TransactionRow> pending_;  // the first pending_rows_ are not inserted yet
  int pending_rows_ = 0;
  Statement insert_transaction_;
  Statement insert_transactions_;
  Statement insert_total_;
  Statement insert_conflict_;
};

Result<std::unique_ptr<DayWriter>> SqliteWarehouse::BeginDay(BusinessDate day) {
  auto writer = std::make_unique<SqliteDayWriter>(db_, day);
  FH_RETURN_IF_ERROR(writer->Begin());
  return std::unique_ptr<DayWriter>(std::move(writer));
}

}  // namespace

Result<std::unique_ptr<Warehouse>> OpenSqliteWarehouse(const std::filesystem::path& path,
                                                       SqliteOptions options) {
  FH_ASSIGN_OR_RETURN(sqlite3 * db, OpenConnection(path, options, kDefaultCacheBytes));
  auto warehouse = std::make_unique<SqliteWarehouse>(db, path, options);
  FH_RETURN_IF_ERROR(warehouse->Init());
  return std::unique_ptr<Warehouse>(std::move(warehouse));
}

}  // namespace firehose::warehouse
