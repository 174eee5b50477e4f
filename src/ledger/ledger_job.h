// The exact daily ledger job (DESIGN §7; every semantic choice is in docs/ledger.md).
//
// RunLedgerDay(D) reads the raw lake partitions event_date = D-w .. D+w exactly as the lake's
// manifests list them when it starts, dedups on (partner_id, txn_id) by the canonical rule, books
// each key on the business date of its canonical version, and replaces D's ledger in the
// warehouse in one transaction.
//
// How (the choices docs/ledger.md leaves to the implementation):
//  - Scan: T threads read files in parallel. Each line of D's partition becomes a compact version
//    record (fixed 56-byte header + txn_id) routed by XXH3_64(partner_id 0x00 txn_id) to one of M
//    hash partitions (never by partner: skew spreads). Neighbour days (D±1..w) are read after D:
//    only lines whose key may occur in D (a blocked Bloom filter of D's keys) are kept.
//  - Memory: ledger_memory_bytes_max bounds the process's peak resident memory. What is not
//    counted byte for byte (the process as the job finds it, line readers, the warehouse's page
//    cache, which the job sizes from the bound, the write pipeline, allocator slack) is reserved
//    first; records live in per-partition SpillBuffers counted by one MemoryBudget holding the
//    rest; past it, the largest partitions spill to files. Partitions are sliced further by hash
//    when the input is too big for one partition to sort in memory.
//  - Process: T threads sort each partition by (partner, txn_id, precedence) and walk the keys:
//    the first record of a key is its canonical version. Booked rows come out sorted.
//  - Write: one thread merges the partitions' sorted rows into (partner_id, txn_id) order and
//    feeds the digest; the calling thread inserts them (batches pass between the two), in the
//    warehouse's primary-key order; totals are summed in 128 bits and must fit int64 before
//    anything is written.
//  - Findings (bookkeeping about other days, never ledger rows): keys whose versions the run sees
//    on a neighbour day are checked against that day's booking (stale, or booked beyond its
//    window); the merge also reads, in the same order, the booked keys of each day D±(w+1)..D±2w
//    that has a ledger, and a key booked there too is a double booking (docs/ledger.md, "Keys
//    booked on two days"). That read costs a sequential pass over those days' keys.
//
// Determinism: the output is a function of the input files only. Records carry (file index in the
// sorted input set, line number), so the precedence order is total; sums are exact; nothing
// depends on thread count, partition count, memory bound or the order files are read in.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/limits.h"
#include "core/status.h"
#include "core/types.h"
#include "warehouse/warehouse.h"

namespace firehose::ledger {

struct Progress {
  std::string_view phase;  // "scan", "neighbours", "process", "write"
  std::uint64_t done = 0;  // lines scanned, partitions processed, rows written
  std::uint64_t total = 0;
};

struct JobOptions {
  std::filesystem::path lake_root;
  BusinessDate day;
  int dedup_window_days = static_cast<int>(Limits{}.ledger_dedup_window_days);
  int partitions = 64;
  int threads = 0;  // 0: one per core
  std::int64_t memory_bytes_max = Limits{}.ledger_memory_bytes_max;
  // Where partitions spill; a private directory is made inside it and removed at the end.
  std::filesystem::path spill_dir;
  std::string timezone = "UTC";  // recorded in the run (the lake's partitions already carry it)
  // 0: read the biggest files first (balance); otherwise a shuffle of the files by this seed
  // (tests: the ledger must not depend on the order files are read in).
  std::uint64_t file_order_seed = 0;
  // Shard shard_index of shard_count (`ledger run --shard i/N`, src/ledger/shards.h): only the
  // keys whose hash partition p has p % shard_count == shard_index. 0 of 1: every key.
  int shard_index = 0;
  int shard_count = 1;
  // When set and true, the job stops at its next check with Cancelled and writes nothing.
  const std::atomic<bool>* cancel = nullptr;
  // Called about five times a second from the calling thread while the job runs.
  std::function<void(const Progress&)> on_progress;

  // <data_dir>/lake, the [ledger] table and the ledger_* limits.
  static JobOptions FromConfig(const Config& config, BusinessDate day);
};

struct JobResult {
  warehouse::RunRecord run;                  // as committed (run_id set)
  std::vector<warehouse::TotalRow> totals;   // the day's new totals
  std::vector<warehouse::Finding> findings;  // about other days (stale ones, double bookings)
  std::int64_t peak_memory_bytes = 0;        // the budget's peak count
};

// Runs the ledger of options.day and commits it to `warehouse`. On any error nothing is written:
// OutOfRange when a total would overflow int64 (naming partner, currency and status), DataLoss
// for a lake line that does not parse, FailedPrecondition/Unavailable when the lake's listing of
// the window has problems (missing files, a publication in progress).
Result<JobResult> RunLedgerDay(const JobOptions& options, warehouse::Warehouse* warehouse);

// The warehouse caches a ledger process sizes from its memory bound: shares of the bound within
// limits. `looks_up`: whether it reads neighbour days' bookings (a run does; `ledger commit`
// does not, and takes the least lookup cache).
warehouse::Warehouse::CacheBytes WarehouseCacheBytes(std::int64_t memory_bytes_max, bool looks_up);

// The hash partition of a key: XXH3_64(partner_id 0x00 txn_id) mod partitions.
std::uint64_t KeyHash(std::string_view partner_id, std::string_view txn_id);

}  // namespace firehose::ledger
