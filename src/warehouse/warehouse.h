// The warehouse: where the exact daily ledger lives for finance (DESIGN §7). One interface, two
// implementations: SQLite in <data_dir>/warehouse.sqlite (sqlite_warehouse.h, the default) and
// PostgreSQL when [ledger] warehouse_url is set (issue #6). The same tests run against every
// implementation (warehouse_test.cc is parameterised over them).
//
// Tables (docs/formats/warehouse.md): ledger_transactions, ledger_daily_totals,
// ledger_conflicts, ledger_runs, ledger_run_files, ledger_findings, ledger_double_bookings,
// ledger_double_booking_keys.
//
// Design constraints:
//  - A day is replaced as a whole, in one transaction (an idempotent partition overwrite):
//    BeginDay deletes every row of the day and the writer inserts the new ones; Commit makes them
//    visible at once. Until Commit, readers (other connections, other processes) keep reading the
//    previous ledger of the day; a crash or an error before Commit leaves it untouched.
//  - Rows stream in: a day of two billion transactions never sits in memory.
//  - Every value is exact: money is int64 minor units, never a float column.
//
// Thread safety: a Warehouse is used by one thread at a time. A job that reads from several
// threads opens one BookingLookup per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/event.h"
#include "core/money.h"
#include "core/status.h"
#include "core/types.h"

namespace firehose::warehouse {

// One booked transaction: its canonical version.
struct TransactionRow {
  BusinessDate business_date;
  std::string partner_id;
  std::string txn_id;
  AmountMinor amount;
  std::string currency;  // ISO 4217, upper case
  TxnStatus status = TxnStatus::kSucceeded;
  TimestampUs event_time;
  std::optional<std::int64_t> version;
  std::int64_t versions = 1;  // versions of the key read in the dedup window
  bool conflict = false;      // its versions disagree on amount, currency or status
  // Where the canonical version is: an index into the run's ledger_run_files, and its line
  // (1-based) in that file.
  std::int64_t source_file = 0;
  std::int64_t source_line = 0;

  bool operator==(const TransactionRow&) const = default;
};

// The totals of one (business_date, partner_id, currency, status).
struct TotalRow {
  BusinessDate business_date;
  std::string partner_id;
  std::string currency;
  TxnStatus status = TxnStatus::kSucceeded;
  std::int64_t txn_count = 0;
  AmountMinor amount;

  bool operator==(const TotalRow&) const = default;
};

// One value that a conflicting key's versions held besides the canonical one (a key with two
// other values has two rows).
struct ConflictRow {
  BusinessDate business_date;
  std::string partner_id;
  std::string txn_id;
  std::int64_t versions = 0;  // every version of the key read
  // The canonical (booked) values.
  AmountMinor amount;
  std::string currency;
  TxnStatus status = TxnStatus::kSucceeded;
  // The other value and how many versions carried it.
  AmountMinor other_amount;
  std::string other_currency;
  TxnStatus other_status = TxnStatus::kSucceeded;
  std::int64_t other_versions = 0;

  bool operator==(const ConflictRow&) const = default;
};

// One lake file a run read.
struct RunFile {
  std::int64_t index = 0;  // position in the run's input set (sorted by path)
  std::string path;        // relative to the lake root
  BusinessDate partition_date;
  std::uint64_t bytes = 0;
  std::string sha256;
  std::uint64_t lines = 0;

  bool operator==(const RunFile&) const = default;
};

// What a run found about another day's ledger (docs/ledger.md, "Late data and staleness" and
// "Keys booked on two days").
enum class FindingKind {
  // Keys whose booking on the day no longer matches the lake as the finding run sees it, which a
  // re-run of the day fixes: the day is stale until it is re-run (table ledger_findings).
  kStale,
  // Keys the day books that the finding run's day books too, the two days further apart than the
  // dedup window: no run sees both bookings' versions, so no re-run fixes it (table
  // ledger_double_bookings, as every kind below).
  kDoubleBooked,
  // Keys the day books although their canonical version, as the finding run sees it, lies on
  // other_date, beyond the day's window: a re-run of the day cannot see that version and books
  // them again, and the day that holds the canonical version books them too.
  kBeyondWindow,
};
std::string_view FindingKindName(FindingKind kind);  // "stale", "double_booked", "beyond_window"
std::optional<FindingKind> FindingKindFromName(std::string_view name);

// A (partner_id, txn_id) key.
using Key = std::pair<std::string, std::string>;

// The keys a double-booking finding lists exactly, at most (the smallest in byte order; `keys`
// counts them all): enough to tell when every one is settled, bounded so that a window that is
// far too narrow for a partner's drift does not make a run hold and write millions of them
// (at most ~200 bytes each, kept per processing thread while the run lasts).
inline constexpr std::size_t kFindingKeysMax = 1000;
// Every finding keeps this many example keys for humans (the smallest in byte order).
inline constexpr std::size_t kFindingExamples = 10;

struct Finding {
  std::int64_t found_by_run = 0;  // run id (set by Commit)
  BusinessDate found_by_date;     // the day whose run found it
  BusinessDate business_date;     // the day whose ledger it is about
  std::int64_t keys = 0;          // keys found (all of them)
  std::string examples;           // up to kFindingExamples of them, for humans (JSON array text)
  FindingKind kind = FindingKind::kStale;
  // kDoubleBooked: the other day that books the keys (found_by_date). kBeyondWindow: the day the
  // keys' canonical version lies on. Unset for kStale.
  BusinessDate other_date;
  // Double-booking kinds: the keys found, exactly, in byte order, at most kFindingKeysMax.
  std::vector<Key> listed_keys;

  bool operator==(const Finding&) const = default;
};

// A double-booking finding (kDoubleBooked or kBeyondWindow) made by the latest run of its
// found_by_date (a newer run of that day judges again, and replaces it), with how much of it
// still holds in the warehouse now.
struct DoubleBooking {
  Finding finding;                         // listed_keys and examples as found
  std::int64_t keys_listed = 0;            // keys the finding lists exactly
  std::int64_t keys_still_booked = 0;      // of those, the ones business_date's ledger still books
  std::vector<Key> still_booked_examples;  // the smallest of those, at most kFindingExamples

  // Open while the day still books a listed key, or while the finding found more keys than it
  // lists (those cannot be checked: a new run of found_by_date judges them again).
  bool open() const { return keys_still_booked > 0 || finding.keys > keys_listed; }
  // For the backends, reading the listed keys in order: one key, and whether the day still books it.
  void AddListedKey(Key key, bool still_booked) {
    if (still_booked) {
      ++keys_still_booked;
      if (still_booked_examples.size() < kFindingExamples) still_booked_examples.push_back(key);
    }
    finding.listed_keys.push_back(std::move(key));
    keys_listed = static_cast<std::int64_t>(finding.listed_keys.size());
  }
};

// One committed run of a day.
struct RunRecord {
  std::int64_t run_id = 0;  // increases with each commit (set by Commit)
  BusinessDate business_date;
  TimestampUs started_at;
  TimestampUs finished_at;
  std::int64_t dedup_window_days = 0;
  std::string timezone;
  std::int64_t partitions = 0;
  std::int64_t threads = 0;
  std::int64_t memory_bytes_max = 0;
  std::int64_t files_read = 0;
  std::int64_t bytes_read = 0;     // compressed bytes of the files read
  std::int64_t lines_read = 0;     // lines of every file in the window
  std::int64_t lines_in_day = 0;   // lines of the day's own partition
  std::int64_t versions_read = 0;  // versions of the keys booked
  std::int64_t keys_booked = 0;
  std::int64_t duplicates = 0;   // versions_read - keys_booked
  std::int64_t conflicts = 0;    // booked keys whose versions disagree
  std::int64_t quarantined = 0;  // quarantine lines with arrival_date = the day
  std::int64_t spilled_bytes = 0;
  std::vector<std::int64_t> partition_sizes;  // versions routed to each hash partition
  std::string digest;                         // lower-case hex SHA-256 (docs/ledger.md)
  std::string timings_json;                   // {"scan_ms":..,"process_ms":..,...}

  bool operator==(const RunRecord&) const = default;
};

// The whole (small part of the) ledger of a day, for tests and `ledger show`.
struct DayLedger {
  std::vector<TransactionRow> transactions;  // (partner_id, txn_id) order
  std::vector<TotalRow> totals;              // (partner_id, currency, status name) order
  std::vector<ConflictRow> conflicts;        // (partner_id, txn_id, other values) order
};

// Replaces one day. Obtained from Warehouse::BeginDay; the previous ledger of the day stays
// visible to every reader until Commit returns OK. Destroying a writer without a successful
// Commit rolls everything back.
class DayWriter {
 public:
  virtual ~DayWriter() = default;
  virtual Status AddTransaction(const TransactionRow& row) = 0;
  virtual Status AddTotal(const TotalRow& row) = 0;
  virtual Status AddConflict(const ConflictRow& row) = 0;
  // Commits the day with its run record, input files and findings about other days (stale ones
  // to ledger_findings; double bookings, with their listed keys, to ledger_double_bookings and
  // ledger_double_booking_keys). Returns the run id. After OK the new ledger is durable (the
  // transaction is synced).
  virtual Result<std::int64_t> Commit(RunRecord run, const std::vector<RunFile>& files,
                                      const std::vector<Finding>& findings) = 0;
};

// Looks up one day's bookings by key. One per thread.
class BookingLookup {
 public:
  virtual ~BookingLookup() = default;
  virtual Result<std::optional<TransactionRow>> Find(std::string_view partner_id,
                                                     std::string_view txn_id) = 0;
};

// Reads one day's booked keys in (partner_id, txn_id) byte order, the ledger's digest order, a
// batch at a time (what a run compares its own keys with in one merge: docs/ledger.md, "Keys
// booked on two days"). It reads one snapshot of the day. One per thread; destroy it before the
// day the caller writes is committed (an unfinished SQLite read would hold back the checkpoint).
class KeyCursor {
 public:
  virtual ~KeyCursor() = default;
  // The next key into `key`; false at the end of the day.
  virtual Result<bool> Next(Key* key) = 0;
};

// A day with a ledger: its latest run.
struct DaySummary {
  BusinessDate business_date;
  RunRecord latest_run;
};

class Warehouse {
 public:
  virtual ~Warehouse() = default;

  // Starts replacing `day`: the transaction is open (and holds the write lock) until the writer
  // commits or is destroyed.
  virtual Result<std::unique_ptr<DayWriter>> BeginDay(BusinessDate day) = 0;

  virtual Result<std::vector<TotalRow>> ReadTotals(BusinessDate day) = 0;
  virtual Result<std::vector<ConflictRow>> ReadConflicts(BusinessDate day) = 0;
  // Every booked transaction of the day in (partner_id, txn_id) order; `visit` returns false to
  // stop early.
  virtual Status ForEachTransaction(BusinessDate day,
                                    const std::function<bool(const TransactionRow&)>& visit) = 0;
  // The latest committed run of the day, if any.
  virtual Result<std::optional<RunRecord>> LatestRun(BusinessDate day) = 0;
  // Every day with a ledger, in date order.
  virtual Result<std::vector<DaySummary>> Days() = 0;
  virtual Result<std::vector<RunFile>> RunFiles(std::int64_t run_id) = 0;
  // Stale findings (FindingKind::kStale) about `day` made by runs committed after run
  // `after_run` (the day's latest run): the day is stale while there is one.
  virtual Result<std::vector<Finding>> FindingsAbout(BusinessDate day, std::int64_t after_run) = 0;
  virtual Result<std::unique_ptr<BookingLookup>> OpenLookup(BusinessDate day) = 0;
  // Opens a cursor over `day`'s booked keys (its own connection, sized as a lookup's).
  virtual Result<std::unique_ptr<KeyCursor>> OpenKeyCursor(BusinessDate day) = 0;
  // The double-booking findings made by the latest run of their found_by_date, with what still
  // holds of each (DoubleBooking::open), in (business_date, other_date, found_by_run) order.
  virtual Result<std::vector<DoubleBooking>> DoubleBookings() = 0;

  // Bounds the memory this process's side of the warehouse caches: `writer_bytes` for the
  // connection days are written through, `lookup_bytes` for each BookingLookup opened after the
  // call. The ledger job sets both from its memory bound and counts them against it.
  struct CacheBytes {
    std::int64_t writer = 0;
    std::int64_t lookup = 0;
  };
  virtual Status SetCacheBytes(CacheBytes bytes) = 0;
  // What the cache bound makes the process hold at most, overhead included (what the job
  // reserves).
  virtual CacheBytes ResidentBytesMax() const = 0;

  // Convenience over BeginDay: the whole day from memory (tests, small days).
  Result<std::int64_t> ReplaceDay(BusinessDate day, const DayLedger& ledger, RunRecord run,
                                  const std::vector<RunFile>& files = {},
                                  const std::vector<Finding>& findings = {});
  // Convenience over the readers.
  Result<DayLedger> ReadDay(BusinessDate day);
};

// The warehouse a config names: SQLite at <data_dir>/warehouse.sqlite unless [ledger]
// warehouse_url is set (PostgreSQL, postgres_warehouse.h).
Result<std::unique_ptr<Warehouse>> OpenWarehouse(const Config& config);

// Appends `text` as one field of a COPY text-format row (PostgreSQL COPY, and the ledger's shard
// files), escaping what the format reserves: backslash, tab, newline, carriage return.
void AppendCopyText(std::string_view text, std::string* out);

// Fault probe: after every row of the day is written, before the commit (core/fault.h).
inline constexpr std::string_view kProbeBeforeCommit = "ledger.before_commit";

}  // namespace firehose::warehouse
