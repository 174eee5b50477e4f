// `firehose sim lake`: a large synthetic lake written straight to disk, with its truth, for the
// ledger's tests and benchmarks. No HTTP, no queue: the simulator's plan is rendered into queue
// records (the bytes partners would send, every acknowledged send including duplicates, late
// and conflicting resends, malformed bodies) and fed to the real LakeWriter (mapping, line
// encoding, zstd, manifests, publication), so the lake is exactly what the platform would land.
//
// Scale: the transactions are generated in chunks of `chunk_transactions` (a plan holds about
// 600 bytes per transaction), each with its own seed and its own range of txn numbers, and each
// landed by its own lake writer ("s000000", "s000001", ...; offsets from 0) on one of `threads`
// threads. The lake and the truth depend only on (partners, seed, day, events, faults, chunk
// size), not on the thread count. The truth is the merge of the chunks' truths.
//
// Received times are synthetic and increase with the plan's sending order within a chunk (so
// "first received" is the plan's, as the truth assumes): a send is received 2 s after its
// latest event time, or just after the previous send, whichever is later; day-late resends
// from 12:00 the next day.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "core/status.h"
#include "core/types.h"
#include "sim/generator.h"
#include "sim/truth.h"

namespace firehose::sim {

inline constexpr std::int64_t kSimLakeChunkTransactions = 250'000;

struct SimLakeOptions {
  std::filesystem::path data_dir;  // must not hold a lake yet
  BusinessDate day;
  std::int64_t transactions = 1'000'000;  // --events
  int partner_slots = 6;                  // --partners
  std::uint64_t seed = 1;
  FaultRates faults = DefaultFaults();
  int threads = 0;  // 0: one per core
  std::int64_t chunk_transactions = kSimLakeChunkTransactions;
  std::int64_t lake_file_bytes_max = 0;  // 0: the config's default
  // Called from the calling thread about five times a second: transactions landed so far.
  std::function<void(std::int64_t done, std::int64_t total)> on_progress;
};

struct SimLakeSummary {
  Truth truth;
  std::int64_t records = 0;      // queue records landed (acknowledged sends)
  std::int64_t events = 0;       // raw-zone lines
  std::int64_t quarantined = 0;  // quarantine-zone lines
  std::int64_t chunks = 0;
  std::filesystem::path config_path;  // <data_dir>/firehose.toml (data_dir = ".")
};

// Writes <data_dir>/firehose.toml (+ secrets/), <data_dir>/lake/ and <data_dir>/truth/
// (truth.json, statements.csv).
Result<SimLakeSummary> WriteSimLake(const SimLakeOptions& options);

}  // namespace firehose::sim
