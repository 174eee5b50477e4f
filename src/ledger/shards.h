// The sharded ledger (issue #6, docs/ledger.md "Running it sharded"): `ledger run --day D
// --shard i/N` in N separate processes (machines, pods), then `ledger commit --day D`.
//
// Shard i books only the keys whose hash partition p (of the run's M partitions) has
// p % N == i; it reads the whole window (every key's versions must meet in one place) and writes
// its part of the day to <data_dir>/ledger/shards/<D>/ (shared storage, like the lake) instead
// of the warehouse:
//   shard-<i>-of-<N>.rows   its transactions in (partner_id, txn_id) byte order, then its totals,
//                           then its conflicts (tab-separated, COPY-style escapes; written,
//                           synced, renamed);
//   shard-<i>-of-<N>.json   its manifest: the rows file's name, size and SHA-256, the run record,
//                           the exact input file set with checksums, its findings. Written
//                           atomically after the rows: a shard is present once its manifest is.
// Once a shard's run has booked its keys, before it writes anything, it removes its previous
// manifest (durably): from then until its own manifest is written the shard is absent, so a run
// killed while writing leaves no shard, never its new rows under its previous manifest.
// `ledger commit` publishes the day once all N shards are present and consistent (same N, day,
// window, zone, partitions and the same input files: a lake that changed between two shards'
// runs is refused, naming the shard to re-run; a rows file that is not its manifest's, by size
// or SHA-256, is refused the same way). It streams the shards: merges their transactions in key
// order, sums the totals with checked overflow, inserts each shard's conflicts as they come (the
// warehouse's primary key orders them), recomputes the digest (equal to a single run's),
// replaces the day in one warehouse transaction, then removes the shard files. A crash anywhere
// leaves the previous ledger of the day; re-running a shard or the commit is harmless.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"
#include "ledger/ledger_job.h"
#include "warehouse/warehouse.h"

namespace firehose::ledger {

struct ShardSpec {
  int index = 0;
  int count = 1;
};

// Parses "i/N" (0 <= i < N <= 4096).
Result<ShardSpec> ParseShard(std::string_view text);

// <data_dir>/ledger/shards/<D>.
std::filesystem::path ShardDir(const Config& config, BusinessDate day);

// A warehouse for a shard's run: reads (neighbour bookings, runs) go to `base`; the day is
// written to the shard's files in `dir`. `base` must outlive it. The Commit of its writer
// returns run id 0 (the day is not published until `CommitShards`).
std::unique_ptr<warehouse::Warehouse> ShardOutput(warehouse::Warehouse* base,
                                                  std::filesystem::path dir, ShardSpec shard);

struct CommitResult {
  int shards = 0;
  warehouse::RunRecord run;                  // as committed (run_id set)
  std::vector<warehouse::TotalRow> totals;   // the day's new totals
  std::vector<warehouse::Finding> findings;  // about other days (as one run of the day finds them)
};

// Publishes the shards in `dir` as the ledger of `day` (see above). NotFound when no shard is
// there; FailedPrecondition when shards are missing or inconsistent, or a rows file is not the
// one its manifest describes (nothing is published); OutOfRange when a total overflows.
// Memory: a line and a row per shard, the day's totals and findings, and the warehouse's
// writer cache, sized from `memory_bytes_max` as a run sizes it; not the day's transactions or
// conflicts, whatever their number.
Result<CommitResult> CommitShards(const std::filesystem::path& dir, BusinessDate day,
                                  warehouse::Warehouse* warehouse, std::int64_t memory_bytes_max);

}  // namespace firehose::ledger
