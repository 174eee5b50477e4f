#include "ledger/ledger_job.h"

#include <openssl/evp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "core/allocator.h"
#include "core/fault.h"
#include "core/metrics.h"
#include "core/money.h"
#include "lake/lake_line.h"
#include "lake/lake_reader.h"
#include "ledger/digest.h"
#include "ledger/key_filter.h"
#include "ledger/ledger_records.h"
#include "ledger/spill.h"

namespace firehose::ledger {

namespace fs = std::filesystem;
using warehouse::BookingLookup;
using warehouse::ConflictRow;
using warehouse::DayWriter;
using warehouse::Finding;
using warehouse::FindingKind;
using warehouse::Key;
using warehouse::RunFile;
using warehouse::RunRecord;
using warehouse::TotalRow;
using warehouse::TransactionRow;

namespace {

constexpr std::string_view kStage = "ledger";
// Staging buffers per (thread, partition) before a chunk goes to the partition's buffer.
constexpr std::size_t kStageBytesMax = 64 << 10;
constexpr std::size_t kStageBytesMin = 4 << 10;
// The merge reads each partition's booked rows this much at a time (less when there are many
// partitions and little memory).
constexpr std::size_t kMergeBlockBytesMax = 64 << 10;
constexpr std::size_t kMergeBlockBytesMin = 4 << 10;
// Booked rows pass from the merge thread to the warehouse thread in batches of this many rows,
// at most this many batches at a time.
constexpr std::size_t kPipeRows = 1024;
constexpr std::size_t kPipeBatches = 4;
// Memory the budget does not count byte for byte, reserved from the bound instead (see
// Job::ReserveMemory): per scan thread, a line reader (its line buffer, zstd's window and
// input buffer) ...
constexpr std::int64_t kReaderBytes = 4 << 20;
// ... the merge-to-warehouse pipeline and the digest's buffer ...
constexpr std::int64_t kPipeBytes = 2 << 20;
// ... and the allocator's slack (arenas, fragments of freed chunks): a share of the bound plus a
// floor.
constexpr int kSlackDivisor = 32;
constexpr std::int64_t kSlackBytesMin = 8 << 20;
// The partitions' records get at least this much (or the whole bound, if smaller) whatever the
// reserve: a bound smaller than the process itself is exceeded, and the run says so in its log.
constexpr std::int64_t kDataBytesMin = 8 << 20;
// The warehouse's caches, as shares of the bound within limits.
constexpr std::int64_t kWriterCacheBytesMax = 64 << 20;
constexpr std::int64_t kWriterCacheBytesMin = 1 << 20;
constexpr int kWriterCacheDivisor = 32;
constexpr std::int64_t kLookupCacheBytesMax = 8 << 20;
constexpr std::int64_t kLookupCacheBytesMin = 256 << 10;
constexpr int kLookupCacheDivisor = 256;
// A partition (slice) is sized to take at most this share of the memory bound while sorted
// (its records, plus a 16-byte index entry per record), per thread.
constexpr int kSliceBudgetDivisor = 4;
// Estimated bytes per version record, for planning slices before the scan (56-byte header and
// a padded txn_id of ~24 bytes, plus its index entry).
constexpr std::int64_t kPlannedRecordBytes = 96;
// The Bloom filter of the day's keys gets at most this share of the memory bound ...
constexpr int kBloomBudgetDivisor = 8;
// ... and this many bits per key when it fits; below kBloomBitsMin it is not worth building.
constexpr std::int64_t kBloomBitsPerKey = 12;
constexpr std::int64_t kBloomBitsMin = 2;
constexpr auto kProgressInterval = std::chrono::milliseconds(200);

Status LineError(const std::string& path, std::uint64_t line, const Status& status) {
  return DataLoss(path + ":" + std::to_string(line) + ": " + status.message());
}

std::optional<TxnStatus> FastStatus(std::string_view name) {
  switch (name.size()) {
    case 6:
      if (name == "failed") return TxnStatus::kFailed;
      break;
    case 7:
      if (name == "pending") return TxnStatus::kPending;
      break;
    case 8:
      if (name == "refunded") return TxnStatus::kRefunded;
      if (name == "canceled") return TxnStatus::kCanceled;
      if (name == "disputed") return TxnStatus::kDisputed;
      break;
    case 9:
      if (name == "succeeded") return TxnStatus::kSucceeded;
      break;
    default:
      break;
  }
  return TxnStatusFromName(name);
}

// Run-wide partner ids: interned once (under a lock), then found through a per-thread cache.
class PartnerDictionary {
 public:
  Result<std::uint16_t> Intern(std::string_view partner_id) {
    std::lock_guard lock(mutex_);
    const auto found = ids_.find(std::string(partner_id));
    if (found != ids_.end()) return found->second;
    if (!PartnerId::IsValid(partner_id)) {
      return DataLoss("lake line: partner_id '" + std::string(partner_id) +
                      "' is not a partner id");
    }
    if (names_.size() > UINT16_MAX) {
      return ResourceExhausted("ledger: more than 65536 distinct partners in one day");
    }
    const auto id = static_cast<std::uint16_t>(names_.size());
    names_.emplace_back(partner_id);
    ids_.emplace(std::string(partner_id), id);
    return id;
  }
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::uint16_t> ids_;
  std::vector<std::string> names_;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const {
    return std::hash<std::string_view>{}(text);
  }
};

class PartnerCache {
 public:
  explicit PartnerCache(PartnerDictionary* dictionary) : dictionary_(dictionary) {}
  Result<std::uint16_t> Id(std::string_view partner_id) {
    if (partner_id == last_name_) return last_id_;
    auto found = cache_.find(partner_id);
    if (found == cache_.end()) {
      FH_ASSIGN_OR_RETURN(const std::uint16_t id, dictionary_->Intern(partner_id));
      found = cache_.emplace(std::string(partner_id), id).first;
    }
    last_name_ = found->first;
    last_id_ = found->second;
    return last_id_;
  }

 private:
  PartnerDictionary* dictionary_;
  std::unordered_map<std::string, std::uint16_t, StringHash, std::equal_to<>> cache_;
  std::string last_name_;
  std::uint16_t last_id_ = 0;
};

// Currency codes seen valid, per thread (ISO 4217 has ~180: a short list).
class CurrencyCache {
 public:
  bool Valid(std::string_view code) {
    if (code.size() != 3) return false;
    std::uint32_t packed = 0;
    std::memcpy(&packed, code.data(), 3);
    if (std::find(valid_.begin(), valid_.end(), packed) != valid_.end()) return true;
    Result<Currency> currency = Currency::FromCode(code);
    if (!currency.ok() || currency->code() != code) return false;
    valid_.push_back(packed);
    return true;
  }

 private:
  std::vector<std::uint32_t> valid_;
};

struct InputFile {
  lake::LakeFile lake_file;
  std::uint32_t index = 0;  // position in the input set sorted by path
  std::int8_t day_offset = 0;
  std::string date_text;
};

// One staging buffer: records are written at `used`, the vector keeps its full size.
struct Stage {
  Bytes bytes;
  std::size_t used = 0;
};

struct TotalSum {
  std::int64_t count = 0;
  Int128 amount = 0;
};

// (partner rank, currency, status) packed for the per-thread total maps.
std::uint64_t TotalKey(std::uint16_t partner_rank, const char* currency, std::uint8_t status) {
  std::uint64_t key = std::uint64_t{partner_rank} << 32;
  key |= std::uint64_t{static_cast<unsigned char>(currency[0])} << 24;
  key |= std::uint64_t{static_cast<unsigned char>(currency[1])} << 16;
  key |= std::uint64_t{static_cast<unsigned char>(currency[2])} << 8;
  return key | status;
}

// Which finding a key goes to: its kind, the day it is about (an offset from the run's day) and,
// for a key booked beyond its window, the day of its canonical version.
struct FindingId {
  FindingKind kind = FindingKind::kStale;
  int offset = 0;
  int other_offset = 0;

  auto operator<=>(const FindingId&) const = default;
  // A stale finding lists examples for humans; a double booking lists its keys exactly, so that
  // the warehouse can tell when each is settled.
  std::size_t listed_max() const {
    return kind == FindingKind::kStale ? warehouse::kFindingExamples : warehouse::kFindingKeysMax;
  }
};

// The keys of one finding: how many, and the smallest of them in byte order.
struct FoundKeys {
  std::int64_t keys = 0;
  std::set<Key> smallest;  // at most listed_max

  void Add(std::string_view partner, std::string_view txn, std::size_t listed_max) {
    ++keys;
    if (smallest.size() == listed_max) {
      const Key& largest = *smallest.rbegin();
      if (std::tuple<std::string_view, std::string_view>(partner, txn) >=
          std::tuple<std::string_view, std::string_view>(largest.first, largest.second)) {
        return;
      }
    }
    smallest.emplace(partner, txn);
    if (smallest.size() > listed_max) smallest.erase(std::prev(smallest.end()));
  }
  void Merge(const FoundKeys& other, std::size_t listed_max) {
    keys += other.keys;
    for (const Key& key : other.smallest) {
      smallest.insert(key);
      if (smallest.size() > listed_max) smallest.erase(std::prev(smallest.end()));
    }
  }
};

// A day whose window overlaps the run's without containing the run's day (D±(w+1)..D±2w) and
// that has a ledger: its booked keys, read in order alongside the run's own while they are merged
// (docs/ledger.md, "Keys booked on two days").
struct FarDay {
  int offset = 0;
  std::unique_ptr<warehouse::KeyCursor> cursor;
  Key key;  // the cursor's current key, while `has_key`
  bool has_key = false;
  bool ended = false;
  FoundKeys found;  // the run's keys this day books too

  // Whether the far day books (partner, txn). Keys must be asked in increasing byte order: the
  // cursor only moves forward, so the whole check reads each day once.
  Result<bool> Books(std::string_view partner, std::string_view txn) {
    const std::tuple<std::string_view, std::string_view> wanted(partner, txn);
    while (!ended) {
      if (!has_key) {
        FH_ASSIGN_OR_RETURN(has_key, cursor->Next(&key));
        if (!has_key) {
          ended = true;
          break;
        }
      }
      const std::tuple<std::string_view, std::string_view> at(key.first, key.second);
      if (at < wanted) {
        has_key = false;
        continue;
      }
      return at == wanted;
    }
    return false;
  }
};

// What a processing thread accumulates over the partitions it takes.
struct WorkerTally {
  std::unordered_map<std::uint64_t, TotalSum> totals;
  std::int64_t keys_booked = 0;
  std::int64_t versions_booked = 0;
  std::int64_t conflicts = 0;
  std::map<FindingId, FoundKeys> findings;
  std::map<int, std::unique_ptr<BookingLookup>> lookups;
};

std::int64_t ElapsedMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

// CPU time the process has used (every thread), for the run's timings: on a shared machine the
// wall clock says more about the neighbours than about the job.
std::int64_t ProcessCpuMs() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  const auto ms = [](const timeval& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1000 + t.tv_usec / 1000;
  };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

// The process's resident set now (/proc/self/statm), 0 when it cannot be read.
std::int64_t ResidentBytesNow() {
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return 0;
  long long size_pages = 0;
  long long resident_pages = 0;
  const int read = std::fscanf(file, "%lld %lld", &size_pages, &resident_pages);
  std::fclose(file);
  if (read != 2) return 0;
  return resident_pages * static_cast<std::int64_t>(::sysconf(_SC_PAGESIZE));
}

// Removes spill directories left by runs whose process is gone (a crash or kill -9).
void RemoveAbandonedSpillDirs(const fs::path& spill_root) {
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(spill_root, error)) {
    const std::string name = entry.path().filename().string();
    // run-<YYYY-MM-DD>-<pid>-<n>
    constexpr std::size_t kPidAt = 4 + 10 + 1;
    if (!name.starts_with("run-") || name.size() <= kPidAt || name[kPidAt - 1] != '-') continue;
    const pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + kPidAt));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), error);
  }
}

struct ScanThread;
class RowPipe;

class Job {
 public:
  Job(const JobOptions& options, warehouse::Warehouse* warehouse)
      : options_(options),
        warehouse_(warehouse),
        threads_(options.threads > 0 ? options.threads
                                     : std::max(1u, std::thread::hardware_concurrency())),
        partitions_(std::max(1, options.partitions)),
        shard_index_(static_cast<std::uint64_t>(std::max(0, options.shard_index))),
        shard_count_(static_cast<std::uint64_t>(std::max(1, options.shard_count))),
        budget_(options.memory_bytes_max) {}

  ~Job() {
    version_buffers_.clear();
    booked_buffers_.clear();
    conflict_buffers_.clear();
    std::error_code error;
    if (!spill_dir_.empty()) fs::remove_all(spill_dir_, error);
  }

  Result<JobResult> Run();

 private:
  Status ListInputs();
  Status ReserveMemory();
  Status PrepareSpill();
  void PlanUnits();
  Status ScanAll();
  Status ScanFiles(const std::vector<const InputFile*>& files, bool neighbours);
  Status ScanFile(const InputFile& input, bool neighbours, ScanThread* thread);
  Status FlushStage(std::size_t unit, ScanThread* thread);
  Status ProcessAll();
  Status ProcessUnit(std::size_t unit, WorkerTally* tally);
  Status ProcessKey(const VersionRecord* const* first, const VersionRecord* const* last,
                    std::size_t unit, Bytes* booked, Bytes* conflicts, WorkerTally* tally);
  Status CheckNeighbours(const VersionRecord* const* first, const VersionRecord* const* last,
                         WorkerTally* tally);
  Status AppendOutput(Bytes* chunk, SpillBuffer* buffer, std::size_t record_bytes);
  Result<std::vector<TotalRow>> SumTotals();
  Result<std::int64_t> Write(const std::vector<TotalRow>& totals, std::string* digest_hex);
  Status FindLedgersAround();
  Result<std::vector<FarDay>> OpenFarDays();
  Status MergeBooked(RowPipe* pipe, Digest* digest, std::vector<FarDay>* far_days);
  Status WriteTransactions(DayWriter* writer, Digest* digest, std::vector<FarDay>* far_days);
  Status WriteConflicts(DayWriter* writer);
  std::vector<Finding> Findings() const;
  RunRecord MakeRun(const std::string& digest) const;

  // Runs `work(thread_index)` on `count` threads, reporting progress from this thread. The first
  // error stops the others at their next check of failed_.
  Status Parallel(int count, const std::function<Status(int)>& work, std::string_view phase,
                  const std::atomic<std::uint64_t>* done, std::uint64_t total);
  void Report(std::string_view phase, std::uint64_t done, std::uint64_t total) const {
    if (options_.on_progress) options_.on_progress(Progress{phase, done, total});
  }

  std::size_t UnitOf(std::uint64_t hash) const {
    return static_cast<std::size_t>(hash % partitions_ +
                                    partitions_ * ((hash / partitions_) % slices_));
  }
  std::size_t PartitionOfUnit(std::size_t unit) const { return unit % partitions_; }
  // Whether this run's shard owns the key: its hash partition modulo the shard count (a whole
  // partition belongs to one shard, so the shards' partition sizes add up to a single run's).
  bool OwnsKey(std::uint64_t hash) const {
    return shard_count_ == 1 || (hash % partitions_) % shard_count_ == shard_index_;
  }
  bool CancelRequested() const { return options_.cancel != nullptr && options_.cancel->load(); }

  const JobOptions& options_;
  warehouse::Warehouse* warehouse_;
  const int threads_;
  const std::uint64_t partitions_;
  const std::uint64_t shard_index_;
  const std::uint64_t shard_count_;
  std::uint64_t slices_ = 1;
  std::size_t units_ = 0;
  std::size_t stage_bytes_ = kStageBytesMax;
  std::size_t merge_block_bytes_ = kMergeBlockBytesMax;
  // The bound minus what ReserveMemory set aside: what the budget lets the partitions hold.
  std::int64_t data_bytes_max_ = 0;
  std::int64_t lookup_resident_bytes_ = 0;
  MemoryBudget budget_;
  fs::path spill_dir_;
  TimestampUs started_at_;
  std::chrono::steady_clock::time_point started_;
  std::int64_t started_cpu_ms_ = 0;
  std::map<std::string, std::int64_t> timings_ms_;

  std::vector<InputFile> inputs_;  // sorted by path
  std::int64_t lines_in_day_ = 0;
  std::int64_t lines_in_window_ = 0;
  std::int64_t bytes_read_ = 0;
  std::int64_t quarantined_ = 0;
  std::map<int, bool> neighbour_has_ledger_;  // by day offset
  std::vector<int> far_offsets_;              // days D±(w+1)..D±2w that have a ledger
  std::map<int, FoundKeys> far_found_;        // by far day offset: keys it books too

  PartnerDictionary partners_;
  std::vector<std::uint16_t> partner_rank_;  // by partner id, after the scan
  std::vector<std::string> names_by_rank_;
  std::unique_ptr<KeyFilter> filter_;
  std::vector<std::unique_ptr<SpillBuffer>> version_buffers_;  // by unit
  std::vector<std::unique_ptr<SpillBuffer>> booked_buffers_;
  std::vector<std::unique_ptr<SpillBuffer>> conflict_buffers_;
  std::vector<std::atomic<std::int64_t>> unit_records_;
  std::vector<WorkerTally> tallies_;
  std::atomic<std::uint64_t> lines_scanned_{0};
  std::uint64_t keys_to_write_ = 0;
  std::atomic<std::uint64_t> units_done_{0};
  std::atomic<bool> failed_{false};
};

struct ScanThread {
  explicit ScanThread(PartnerDictionary* dictionary) : partners(dictionary) {}
  PartnerCache partners;
  CurrencyCache currencies;
  std::string scratch;
  std::vector<Stage> stages;  // by unit
};

Status Job::Parallel(int count, const std::function<Status(int)>& work, std::string_view phase,
                     const std::atomic<std::uint64_t>* done, std::uint64_t total) {
  std::mutex mutex;
  std::condition_variable finished_cv;
  int running = count;
  Status first_error;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      Status status = work(i);
      std::lock_guard lock(mutex);
      if (!status.ok() && first_error.ok()) {
        first_error = status;
        failed_ = true;
      }
      --running;
      finished_cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    while (running > 0) {
      finished_cv.wait_for(lock, kProgressInterval);
      if (done != nullptr && running > 0) {
        lock.unlock();
        Report(phase, done->load(), total);
        lock.lock();
      }
    }
  }
  for (std::thread& thread : threads) thread.join();
  if (done != nullptr) Report(phase, done->load(), total);
  return first_error;
}

Status Job::ListInputs() {
  FH_ASSIGN_OR_RETURN(const lake::LakeListing listing, lake::ListLake(options_.lake_root));
  const int window = options_.dedup_window_days;
  const BusinessDate first = options_.day.AddDays(-window);
  const BusinessDate last = options_.day.AddDays(window);
  for (const lake::LakeProblem& problem : listing.problems) {
    // Problems outside the window do not change this day's ledger.
    const bool in_window = [&] {
      for (BusinessDate date = first; date <= last; date = date.AddDays(1)) {
        if (problem.path.find(date.ToString()) != std::string::npos) return true;
      }
      return problem.kind == "manifest_unreadable" || problem.kind == "manifest_name_mismatch";
    }();
    if (!in_window || problem.kind == "file_unlisted" || problem.kind == "unexpected_entry") {
      continue;
    }
    const std::string message =
        "lake: " + problem.kind + " " + problem.path + ": " + problem.message;
    if (problem.kind == "file_pending")
      return Unavailable(message + " (retry when it is published)");
    return FailedPrecondition(message + " (run `firehose lake verify`)");
  }
  for (const lake::LakeFile& file : listing.Files(lake::Zone::kRaw)) {
    if (file.file.date < first || file.file.date > last) continue;
    InputFile input;
    input.lake_file = file;
    input.day_offset = static_cast<std::int8_t>(file.file.date.days_since_epoch() -
                                                options_.day.days_since_epoch());
    input.date_text = file.file.date.ToString();
    inputs_.push_back(std::move(input));
  }
  std::sort(inputs_.begin(), inputs_.end(), [](const InputFile& a, const InputFile& b) {
    return a.lake_file.file.path < b.lake_file.file.path;
  });
  if (inputs_.size() > UINT32_MAX) return ResourceExhausted("ledger: too many input files");
  for (std::size_t i = 0; i < inputs_.size(); ++i) {
    InputFile& input = inputs_[i];
    input.index = static_cast<std::uint32_t>(i);
    if (input.lake_file.file.lines > UINT32_MAX) {
      return ResourceExhausted("ledger: " + input.lake_file.file.path +
                               " has more than 2^32 lines");
    }
    const auto lines = static_cast<std::int64_t>(input.lake_file.file.lines);
    lines_in_window_ += lines;
    if (input.day_offset == 0) lines_in_day_ += lines;
    bytes_read_ += static_cast<std::int64_t>(input.lake_file.file.bytes);
  }
  for (const lake::LakeFile& file : listing.Files(lake::Zone::kQuarantine, options_.day)) {
    quarantined_ += static_cast<std::int64_t>(file.file.lines);
  }
  return Status::Ok();
}

// The bound is the process's peak resident memory, not only the partitions': what the budget
// does not count byte for byte is set aside first. The process as it is when the job starts
// (code, libraries, whatever else it holds), a line reader per scan thread, the process phase's
// output chunks before they reach their buffers, the warehouse's caches (sized here from the
// bound), the write pipeline, and the allocator's slack. The rest is the budget's limit; the
// lookups and the merge's read blocks are added to the budget while they exist.
Status Job::ReserveMemory() {
  const std::int64_t bound = options_.memory_bytes_max;
  FH_RETURN_IF_ERROR(warehouse_->SetCacheBytes(WarehouseCacheBytes(bound, /*looks_up=*/true)));
  const warehouse::Warehouse::CacheBytes warehouse = warehouse_->ResidentBytesMax();
  lookup_resident_bytes_ = warehouse.lookup;
  const std::int64_t process = ResidentBytesNow();
  const std::int64_t readers = threads_ * kReaderBytes;
  const std::int64_t outputs = threads_ * 2 * static_cast<std::int64_t>(kStageBytesMax);
  const std::int64_t slack = std::max(kSlackBytesMin, bound / kSlackDivisor);
  const std::int64_t reserved = process + readers + outputs + warehouse.writer + kPipeBytes + slack;
  // (A bound below the floor itself is taken as it is: tests force spilling with a few KiB.)
  const std::int64_t floor = std::min(bound, kDataBytesMin);
  data_bytes_max_ = std::max(floor, bound - reserved);
  budget_.set_limit_bytes(data_bytes_max_);
  if (bound - reserved < floor) {
    spdlog::warn(
        "ledger {}: the memory bound of {} MiB is below what the process needs besides its "
        "partitions ({} MiB); the run will exceed it",
        options_.day.ToString(), bound >> 20, reserved >> 20);
  }
  spdlog::info(
      "ledger {}: memory bound {} MiB: {} MiB for the partitions, {} MiB reserved (process {}, "
      "readers {}, warehouse {}, slack {})",
      options_.day.ToString(), bound >> 20, data_bytes_max_ >> 20, reserved >> 20, process >> 20,
      readers >> 20, warehouse.writer >> 20, slack >> 20);
  return Status::Ok();
}

Status Job::PrepareSpill() {
  const fs::path root = options_.spill_dir.empty() ? fs::temp_directory_path() : options_.spill_dir;
  std::error_code error;
  fs::create_directories(root, error);
  if (error) return Internal("creating " + root.string() + ": " + error.message());
  RemoveAbandonedSpillDirs(root);
  static std::atomic<int> counter{0};
  spill_dir_ = root / ("run-" + options_.day.ToString() + "-" + std::to_string(::getpid()) + "-" +
                       std::to_string(counter++));
  fs::create_directories(spill_dir_, error);
  if (error) return Internal("creating " + spill_dir_.string() + ": " + error.message());
  return Status::Ok();
}

// Slices per partition so that one slice sorts within its share of the memory bound, from the
// line counts the manifests give before anything is read.
void Job::PlanUnits() {
  const std::int64_t slice_budget =
      std::max<std::int64_t>(1, data_bytes_max_ / (kSliceBudgetDivisor * threads_));
  const std::int64_t planned_bytes = lines_in_window_ * kPlannedRecordBytes;
  const std::int64_t units_needed = (planned_bytes + slice_budget - 1) / slice_budget;
  slices_ = static_cast<std::uint64_t>(
      std::max<std::int64_t>(1, (units_needed + static_cast<std::int64_t>(partitions_) - 1) /
                                    static_cast<std::int64_t>(partitions_)));
  units_ = static_cast<std::size_t>(partitions_ * slices_);
  // Staging: at most 1/16 of the bound over every (thread, unit).
  const std::int64_t stage_share =
      data_bytes_max_ / 16 / (threads_ * static_cast<std::int64_t>(units_));
  stage_bytes_ = static_cast<std::size_t>(
      std::clamp<std::int64_t>(stage_share, static_cast<std::int64_t>(kStageBytesMin),
                               static_cast<std::int64_t>(kStageBytesMax)));
  // The merge holds about two blocks per unit at once.
  merge_block_bytes_ = static_cast<std::size_t>(
      std::clamp<std::int64_t>(data_bytes_max_ / 16 / (2 * static_cast<std::int64_t>(units_)),
                               static_cast<std::int64_t>(kMergeBlockBytesMin),
                               static_cast<std::int64_t>(kMergeBlockBytesMax)));
  unit_records_ = std::vector<std::atomic<std::int64_t>>(units_);
  for (std::size_t unit = 0; unit < units_; ++unit) {
    const std::string name = std::to_string(unit);
    version_buffers_.push_back(
        std::make_unique<SpillBuffer>(&budget_, spill_dir_ / ("versions-" + name)));
    booked_buffers_.push_back(
        std::make_unique<SpillBuffer>(&budget_, spill_dir_ / ("booked-" + name)));
    conflict_buffers_.push_back(
        std::make_unique<SpillBuffer>(&budget_, spill_dir_ / ("conflicts-" + name)));
  }
}

Status Job::FlushStage(std::size_t unit, ScanThread* thread) {
  Stage& stage = thread->stages[unit];
  if (stage.used == 0) return Status::Ok();
  Bytes chunk = std::move(stage.bytes);
  chunk.resize(stage.used);
  stage.bytes.resize(stage_bytes_);
  stage.used = 0;
  return version_buffers_[unit]->Append(std::move(chunk));
}

Status Job::ScanFile(const InputFile& input, bool neighbours, ScanThread* thread) {
  const std::string& path = input.lake_file.file.path;
  FH_ASSIGN_OR_RETURN(std::unique_ptr<lake::LineReader> reader,
                      lake::LineReader::Open(options_.lake_root / path));
  lake::LedgerFields fields;
  std::string_view line;
  std::uint32_t line_number = 0;
  std::uint64_t unreported = 0;
  while (true) {
    FH_ASSIGN_OR_RETURN(const bool more, reader->Next(&line));
    if (!more) break;
    ++line_number;
    if (++unreported == 4096) {
      lines_scanned_ += unreported;
      unreported = 0;
      if (failed_) return Cancelled("another thread failed");
      if (CancelRequested()) return Cancelled("ledger run cancelled");
    }
    std::uint64_t hash = 0;
    if (neighbours) {
      // Only the key first: most of a neighbour day's lines are not versions of this day's keys.
      const Status key = lake::ScanLedgerKey(line, &fields, &thread->scratch);
      if (!key.ok()) return LineError(path, line_number, key);
      if (fields.txn_id.empty() || fields.txn_id.size() > TxnId::kBytesMax ||
          fields.partner_id.size() > PartnerId::kBytesMax) {
        return LineError(path, line_number, DataLoss("lake line: bad partner_id or txn_id"));
      }
      hash = KeyHash(fields.partner_id, fields.txn_id);
      if (!OwnsKey(hash)) continue;
      if (filter_ != nullptr && !filter_->MayContain(hash)) continue;
    }
    const Status scanned = lake::ScanLedgerFields(line, &fields, &thread->scratch);
    if (!scanned.ok()) return LineError(path, line_number, scanned);
    if (fields.txn_id.empty() || fields.txn_id.size() > TxnId::kBytesMax ||
        fields.partner_id.empty() || fields.partner_id.size() > PartnerId::kBytesMax) {
      return LineError(path, line_number, DataLoss("lake line: bad partner_id or txn_id length"));
    }
    if (fields.event_date != input.date_text) {
      return LineError(path, line_number,
                       DataLoss("lake line: event_date " + std::string(fields.event_date) +
                                " in partition " + input.date_text));
    }
    if (!thread->currencies.Valid(fields.currency)) {
      return LineError(path, line_number,
                       DataLoss("lake line: bad currency '" + std::string(fields.currency) + "'"));
    }
    const std::optional<TxnStatus> status = FastStatus(fields.status);
    if (!status) {
      return LineError(path, line_number,
                       DataLoss("lake line: unknown status '" + std::string(fields.status) + "'"));
    }
    Result<std::uint16_t> partner = thread->partners.Id(fields.partner_id);
    if (!partner.ok()) return LineError(path, line_number, partner.status());
    if (!neighbours) {
      hash = KeyHash(fields.partner_id, fields.txn_id);
      if (!OwnsKey(hash)) continue;
      if (filter_ != nullptr) filter_->Add(hash);
    }

    VersionRecord record;
    record.amount_minor = fields.amount_minor;
    record.event_time_us = fields.event_time_us;
    record.version = fields.version.value_or(0);
    record.received_at_us = fields.received_at_us;
    record.key_hash = hash;
    record.file = input.index;
    record.line = line_number;
    record.partner = *partner;
    record.txn_bytes = static_cast<std::uint8_t>(fields.txn_id.size());
    record.flags = static_cast<std::uint8_t>(static_cast<std::uint8_t>(*status) |
                                             (fields.version ? kHasVersionBit : 0));
    std::memcpy(record.currency, fields.currency.data(), 3);
    record.day_offset = input.day_offset;

    const std::size_t unit = UnitOf(hash);
    const std::size_t bytes = record.size();
    Stage* stage = &thread->stages[unit];
    if (stage->used + bytes > stage->bytes.size()) {
      FH_RETURN_IF_ERROR(FlushStage(unit, thread));
      stage = &thread->stages[unit];
      if (bytes > stage->bytes.size()) stage->bytes.resize(bytes);
    }
    WriteRecord(record, fields.txn_id, stage->bytes.data() + stage->used);
    stage->used += bytes;
    unit_records_[unit].fetch_add(1, std::memory_order_relaxed);
  }
  lines_scanned_ += unreported;
  if (line_number != input.lake_file.file.lines) {
    return DataLoss("lake: " + path + " has " + std::to_string(line_number) +
                    " lines, its manifest says " + std::to_string(input.lake_file.file.lines));
  }
  return Status::Ok();
}

Status Job::ScanFiles(const std::vector<const InputFile*>& files, bool neighbours) {
  std::atomic<std::size_t> next{0};
  std::uint64_t total = 0;
  for (const InputFile* file : files) total += file->lake_file.file.lines;
  lines_scanned_ = 0;
  const auto work = [&](int) -> Status {
    ScanThread thread(&partners_);
    thread.stages.resize(units_);
    for (Stage& stage : thread.stages) stage.bytes.resize(stage_bytes_);
    while (!failed_) {
      const std::size_t index = next++;
      if (index >= files.size()) break;
      FH_RETURN_IF_ERROR(ScanFile(*files[index], neighbours, &thread));
    }
    for (std::size_t unit = 0; unit < units_; ++unit) FH_RETURN_IF_ERROR(FlushStage(unit, &thread));
    return Status::Ok();
  };
  const std::int64_t staging =
      static_cast<std::int64_t>(stage_bytes_ * units_) * static_cast<std::int64_t>(threads_);
  FH_RETURN_IF_ERROR(budget_.Add(staging));
  Status status =
      Parallel(threads_, work, neighbours ? "neighbours" : "scan", &lines_scanned_, total);
  budget_.Release(staging);
  return status;
}

Status Job::ScanAll() {
  std::vector<const InputFile*> day_files;
  std::vector<const InputFile*> neighbour_files;
  std::uint64_t neighbour_lines = 0;
  for (const InputFile& input : inputs_) {
    (input.day_offset == 0 ? day_files : neighbour_files).push_back(&input);
    if (input.day_offset != 0) neighbour_lines += input.lake_file.file.lines;
  }
  // Biggest first balances the threads; a seed shuffles (tests: the order must not matter).
  for (auto* files : {&day_files, &neighbour_files}) {
    if (options_.file_order_seed == 0) {
      std::stable_sort(files->begin(), files->end(), [](const InputFile* a, const InputFile* b) {
        return a->lake_file.file.bytes > b->lake_file.file.bytes;
      });
    } else {
      std::mt19937_64 random(options_.file_order_seed);
      std::shuffle(files->begin(), files->end(), random);
    }
  }
  if (!neighbour_files.empty() && lines_in_day_ > 0) {
    const std::int64_t budget_bits = data_bytes_max_ / kBloomBudgetDivisor * 8;
    const std::int64_t wanted_bits = lines_in_day_ * kBloomBitsPerKey;
    const std::int64_t bits = std::min(budget_bits, wanted_bits);
    if (bits >= lines_in_day_ * kBloomBitsMin) {
      std::size_t words = 1;
      while (static_cast<std::int64_t>(words * 2 * 64) <= bits) words *= 2;
      filter_ = std::make_unique<KeyFilter>(words);
      FH_RETURN_IF_ERROR(budget_.Add(static_cast<std::int64_t>(filter_->bytes())));
    }
  }
  auto started = std::chrono::steady_clock::now();
  FH_RETURN_IF_ERROR(ScanFiles(day_files, false));
  timings_ms_["scan_ms"] = ElapsedMs(started);
  started = std::chrono::steady_clock::now();
  // Without a line in the day there is no key to book: the neighbours cannot matter.
  if (lines_in_day_ > 0 && neighbour_lines > 0)
    FH_RETURN_IF_ERROR(ScanFiles(neighbour_files, true));
  timings_ms_["neighbours_ms"] = ElapsedMs(started);
  if (filter_ != nullptr) {
    budget_.Release(static_cast<std::int64_t>(filter_->bytes()));
    filter_.reset();
  }
  // Partner ranks: the byte order of the ids, so that rows sort as the digest needs.
  const std::vector<std::string>& names = partners_.names();
  std::vector<std::uint16_t> by_rank(names.size());
  std::iota(by_rank.begin(), by_rank.end(), 0);
  std::sort(by_rank.begin(), by_rank.end(),
            [&names](std::uint16_t a, std::uint16_t b) { return names[a] < names[b]; });
  partner_rank_.resize(names.size());
  for (std::size_t rank = 0; rank < by_rank.size(); ++rank) {
    partner_rank_[by_rank[rank]] = static_cast<std::uint16_t>(rank);
    names_by_rank_.push_back(names[by_rank[rank]]);
  }
  return Status::Ok();
}

// Precedence among versions of one key: greatest version first (no version lowest), then the
// order of receipt (received_at_us, file, line). Total: (file, line) names one line.
bool Precedes(const VersionRecord& a, const VersionRecord& b) {
  const bool a_versioned = (a.flags & kHasVersionBit) != 0;
  const bool b_versioned = (b.flags & kHasVersionBit) != 0;
  if (a_versioned != b_versioned) return a_versioned;
  if (a_versioned && a.version != b.version) return a.version > b.version;
  if (a.received_at_us != b.received_at_us) return a.received_at_us < b.received_at_us;
  if (a.file != b.file) return a.file < b.file;
  return a.line < b.line;
}

// Byte order of two txn ids, eight bytes at a time (ids share long prefixes: a partner's run
// tag), without a call per comparison: the sort and the merge spend most of their time here.
inline int CompareTxn(std::string_view a, std::string_view b) {
  const std::size_t common = std::min(a.size(), b.size());
  std::size_t at = 0;
  for (; at + 8 <= common; at += 8) {
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    std::memcpy(&x, a.data() + at, 8);
    std::memcpy(&y, b.data() + at, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  for (; at < common; ++at) {
    const auto x = static_cast<unsigned char>(a[at]);
    const auto y = static_cast<unsigned char>(b[at]);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

bool SameValues(const VersionRecord& a, const VersionRecord& b) {
  return a.amount_minor == b.amount_minor && std::memcmp(a.currency, b.currency, 3) == 0 &&
         (a.flags & kStatusMask) == (b.flags & kStatusMask);
}

Status Job::AppendOutput(Bytes* chunk, SpillBuffer* buffer, std::size_t record_bytes) {
  if (chunk->size() + record_bytes <= stage_bytes_ || chunk->empty()) return Status::Ok();
  FH_RETURN_IF_ERROR(buffer->Append(std::move(*chunk)));
  chunk->clear();
  // The size of the scan's chunks: the allocator hands back the ones processing freed.
  chunk->reserve(stage_bytes_);
  return Status::Ok();
}

Status Job::CheckNeighbours(const VersionRecord* const* first, const VersionRecord* const* last,
                            WorkerTally* tally) {
  const VersionRecord& canonical = **first;
  std::map<int, bool> offsets;
  for (auto it = first; it != last; ++it) {
    if ((*it)->day_offset != 0) offsets[(*it)->day_offset] = true;
  }
  if (canonical.day_offset != 0) offsets[canonical.day_offset] = true;
  for (const auto& [offset, unused] : offsets) {
    const auto has_ledger = neighbour_has_ledger_.find(offset);
    if (has_ledger == neighbour_has_ledger_.end() || !has_ledger->second) continue;
    const std::string& partner = partners_.names()[canonical.partner];
    const std::string_view txn = canonical.txn_id();
    FH_ASSIGN_OR_RETURN(std::optional<TransactionRow> booked,
                        tally->lookups.at(offset)->Find(partner, txn));
    bool matches = false;
    if (offset == canonical.day_offset) {
      // The neighbour books the canonical version, and lists the key as a conflict if the versions
      // this run sees disagree: a conflicting resend that landed in this day's partition after
      // the neighbour ran changes no total, but finance's conflict list. (A neighbour's conflict
      // this run does not see comes from a version outside this run's window: not news.)
      const bool conflict = std::any_of(
          first + 1, last, [&](const VersionRecord* other) { return !SameValues(*other, canonical); });
      matches = booked && booked->amount.value() == canonical.amount_minor &&
                booked->currency == std::string_view(canonical.currency, 3) &&
                static_cast<std::uint8_t>(booked->status) == (canonical.flags & kStatusMask) &&
                booked->event_time.value() == canonical.event_time_us &&
                (booked->conflict || !conflict);
    } else if (booked.has_value() &&
               std::abs(offset - canonical.day_offset) > options_.dedup_window_days) {
      // The neighbour books the key, but its canonical version lies on a day the neighbour's
      // window does not reach: a re-run of the neighbour cannot see it and books the key again,
      // and the day that holds it books it too. Not staleness: a double booking.
      const FindingId id{FindingKind::kBeyondWindow, offset, canonical.day_offset};
      tally->findings[id].Add(partner, txn, id.listed_max());
      continue;
    } else {
      matches = !booked.has_value();
    }
    if (!matches) {
      const FindingId id{FindingKind::kStale, offset, 0};
      tally->findings[id].Add(partner, txn, id.listed_max());
    }
  }
  return Status::Ok();
}

Status Job::ProcessKey(const VersionRecord* const* first, const VersionRecord* const* last,
                       std::size_t unit, Bytes* booked, Bytes* conflicts, WorkerTally* tally) {
  bool in_day = false;
  bool in_neighbour = false;
  for (auto it = first; it != last; ++it) {
    ((*it)->day_offset == 0 ? in_day : in_neighbour) = true;
  }
  // A key with no version in the day is a neighbour's (or a false positive of the filter).
  if (!in_day) return Status::Ok();
  const VersionRecord& canonical = **first;
  if (in_neighbour && !neighbour_has_ledger_.empty()) {
    FH_RETURN_IF_ERROR(CheckNeighbours(first, last, tally));
  }
  if (canonical.day_offset != 0) return Status::Ok();  // booked on another day

  const auto versions = static_cast<std::uint32_t>(last - first);
  // The other values the key's versions held, with how many versions held each.
  std::vector<std::pair<const VersionRecord*, std::uint32_t>> others;
  for (auto it = first + 1; it != last; ++it) {
    if (SameValues(**it, canonical)) continue;
    auto found = std::find_if(others.begin(), others.end(),
                              [it](const auto& other) { return SameValues(*other.first, **it); });
    if (found == others.end()) {
      others.emplace_back(*it, 1);
    } else {
      ++found->second;
    }
  }
  const std::uint16_t rank = partner_rank_[canonical.partner];
  const std::string_view txn = canonical.txn_id();

  BookedRecord row{};
  row.amount_minor = canonical.amount_minor;
  row.event_time_us = canonical.event_time_us;
  row.version = canonical.version;
  row.file = canonical.file;
  row.line = canonical.line;
  row.versions = versions;
  row.partner_rank = rank;
  row.txn_bytes = canonical.txn_bytes;
  row.flags = static_cast<std::uint8_t>(canonical.flags | (others.empty() ? 0 : kConflictBit));
  std::memcpy(row.currency, canonical.currency, 3);
  FH_RETURN_IF_ERROR(AppendOutput(booked, booked_buffers_[unit].get(), row.size()));
  const std::size_t at = booked->size();
  booked->resize(at + row.size());
  WriteRecord(row, txn, booked->data() + at);

  for (const auto& [other, count] : others) {
    ConflictRecord conflict{};
    conflict.amount_minor = canonical.amount_minor;
    conflict.other_amount_minor = other->amount_minor;
    conflict.versions = versions;
    conflict.other_versions = count;
    conflict.partner_rank = rank;
    conflict.txn_bytes = canonical.txn_bytes;
    conflict.status = canonical.flags & kStatusMask;
    conflict.other_status = other->flags & kStatusMask;
    std::memcpy(conflict.currency, canonical.currency, 3);
    std::memcpy(conflict.other_currency, other->currency, 3);
    FH_RETURN_IF_ERROR(AppendOutput(conflicts, conflict_buffers_[unit].get(), conflict.size()));
    const std::size_t conflict_at = conflicts->size();
    conflicts->resize(conflict_at + conflict.size());
    WriteRecord(conflict, txn, conflicts->data() + conflict_at);
  }

  TotalSum& total =
      tally->totals[TotalKey(rank, canonical.currency, canonical.flags & kStatusMask)];
  ++total.count;
  total.amount += canonical.amount_minor;
  ++tally->keys_booked;
  tally->versions_booked += versions;
  if (!others.empty()) ++tally->conflicts;
  return Status::Ok();
}

Status Job::ProcessUnit(std::size_t unit, WorkerTally* tally) {
  FH_ASSIGN_OR_RETURN(SpillBuffer::Loaded loaded, version_buffers_[unit]->Take());
  std::vector<const VersionRecord*, UninitializedAllocator<const VersionRecord*>> records;
  records.reserve(static_cast<std::size_t>(unit_records_[unit].load()));
  const auto index_bytes = static_cast<std::int64_t>(records.capacity() * sizeof(void*));
  FH_RETURN_IF_ERROR(budget_.Add(index_bytes));
  for (const Bytes& block : loaded.blocks) {
    for (std::size_t at = 0; at < block.size();) {
      const auto* record = reinterpret_cast<const VersionRecord*>(block.data() + at);
      records.push_back(record);
      at += record->size();
    }
  }
  const std::vector<std::uint16_t>& ranks = partner_rank_;
  std::sort(records.begin(), records.end(),
            [&ranks](const VersionRecord* a, const VersionRecord* b) {
              if (a->partner != b->partner) return ranks[a->partner] < ranks[b->partner];
              const int txn = CompareTxn(a->txn_id(), b->txn_id());
              if (txn != 0) return txn < 0;
              return Precedes(*a, *b);
            });
  Bytes booked;
  Bytes conflicts;
  booked.reserve(stage_bytes_);
  for (std::size_t begin = 0; begin < records.size();) {
    std::size_t end = begin + 1;
    while (end < records.size() && records[end]->partner == records[begin]->partner &&
           CompareTxn(records[end]->txn_id(), records[begin]->txn_id()) == 0) {
      ++end;
    }
    FH_RETURN_IF_ERROR(
        ProcessKey(records.data() + begin, records.data() + end, unit, &booked, &conflicts, tally));
    begin = end;
  }
  records = {};
  loaded.blocks = {};
  budget_.Release(index_bytes + loaded.counted_bytes);
  if (!booked.empty()) FH_RETURN_IF_ERROR(booked_buffers_[unit]->Append(std::move(booked)));
  if (!conflicts.empty()) FH_RETURN_IF_ERROR(conflict_buffers_[unit]->Append(std::move(conflicts)));
  return Status::Ok();
}

// Which days around this one have a ledger: the neighbours in the window, whose bookings this
// run's findings are checked against, and the days whose window overlaps this one's without
// containing this day (D±(w+1)..D±2w), whose bookings this run's own are compared with: a key
// booked there and here is booked twice, and no run sees both bookings' versions (docs/ledger.md,
// "Keys booked on two days"). Farther days share no lake partition with this day's window. With
// a window of 0 no two windows overlap: the next days, D±1, are compared (a resend across
// midnight, the commonest drift).
Status Job::FindLedgersAround() {
  const int window = options_.dedup_window_days;
  const int reach = std::max(2 * window, window + 1);
  for (int offset = -reach; offset <= reach; ++offset) {
    if (offset == 0) continue;
    FH_ASSIGN_OR_RETURN(std::optional<RunRecord> run,
                        warehouse_->LatestRun(options_.day.AddDays(offset)));
    if (!run) continue;
    if (std::abs(offset) <= window) {
      neighbour_has_ledger_[offset] = true;
    } else {
      far_offsets_.push_back(offset);
    }
  }
  return Status::Ok();
}

// One key cursor per far day, counted in the budget as a lookup is (released after the merge).
Result<std::vector<FarDay>> Job::OpenFarDays() {
  FH_RETURN_IF_ERROR(
      budget_.Add(lookup_resident_bytes_ * static_cast<std::int64_t>(far_offsets_.size())));
  std::vector<FarDay> far_days;
  for (const int offset : far_offsets_) {
    FarDay far;
    far.offset = offset;
    FH_ASSIGN_OR_RETURN(far.cursor, warehouse_->OpenKeyCursor(options_.day.AddDays(offset)));
    far_days.push_back(std::move(far));
  }
  return far_days;
}

Status Job::ProcessAll() {
  FH_RETURN_IF_ERROR(FindLedgersAround());
  tallies_.resize(static_cast<std::size_t>(threads_));
  const std::int64_t lookup_bytes =
      lookup_resident_bytes_ * threads_ * static_cast<std::int64_t>(neighbour_has_ledger_.size());
  FH_RETURN_IF_ERROR(budget_.Add(lookup_bytes));
  for (WorkerTally& tally : tallies_) {
    for (const auto& [offset, unused] : neighbour_has_ledger_) {
      FH_ASSIGN_OR_RETURN(tally.lookups[offset],
                          warehouse_->OpenLookup(options_.day.AddDays(offset)));
    }
  }
  // Biggest units first: the last thread to finish has the least left.
  std::vector<std::size_t> order(units_);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [this](std::size_t a, std::size_t b) {
    return unit_records_[a].load() > unit_records_[b].load();
  });
  std::atomic<std::size_t> next{0};
  units_done_ = 0;
  const auto work = [&](int thread) -> Status {
    while (!failed_) {
      const std::size_t index = next++;
      if (index >= order.size()) break;
      if (CancelRequested()) return Cancelled("ledger run cancelled");
      FH_RETURN_IF_ERROR(ProcessUnit(order[index], &tallies_[static_cast<std::size_t>(thread)]));
      ++units_done_;
    }
    return Status::Ok();
  };
  const auto started = std::chrono::steady_clock::now();
  FH_RETURN_IF_ERROR(Parallel(threads_, work, "process", &units_done_, units_));
  timings_ms_["process_ms"] = ElapsedMs(started);
  for (WorkerTally& tally : tallies_) tally.lookups.clear();
  budget_.Release(lookup_bytes);
  ReturnFreedMemory();  // the versions' chunks, before the write phase's cache fills
  return Status::Ok();
}

Result<std::vector<TotalRow>> Job::SumTotals() {
  std::map<std::uint64_t, TotalSum> sums;  // ordered by (rank, currency, status number)
  for (const WorkerTally& tally : tallies_) {
    for (const auto& [key, sum] : tally.totals) {
      TotalSum& into = sums[key];
      into.count += sum.count;
      into.amount += sum.amount;
    }
  }
  std::vector<TotalRow> rows;
  for (const auto& [key, sum] : sums) {
    TotalRow row;
    row.business_date = options_.day;
    row.partner_id = names_by_rank_[key >> 32];
    row.currency = {static_cast<char>(key >> 24 & 0xFF), static_cast<char>(key >> 16 & 0xFF),
                    static_cast<char>(key >> 8 & 0xFF)};
    row.status = static_cast<TxnStatus>(key & 0xFF);
    row.txn_count = sum.count;
    if (sum.amount > INT64_MAX || sum.amount < INT64_MIN) {
      Metrics()
          .CounterFor("firehose_rejected_total", {{"stage", std::string(kStage)},
                                                  {"partner", row.partner_id},
                                                  {"reason", "amount_overflow"}})
          .Add();
      return OutOfRange("ledger: the " + std::string(TxnStatusName(row.status)) + " total of " +
                        row.partner_id + " in " + row.currency + " on " + options_.day.ToString() +
                        " overflows int64 minor units (" + std::to_string(sum.count) +
                        " transactions); nothing was written");
    }
    row.amount = AmountMinor(static_cast<std::int64_t>(sum.amount));
    rows.push_back(std::move(row));
  }
  // The digest's order: (partner_id, currency, status name).
  std::sort(rows.begin(), rows.end(), [](const TotalRow& a, const TotalRow& b) {
    return std::forward_as_tuple(a.partner_id, a.currency, TxnStatusName(a.status)) <
           std::forward_as_tuple(b.partner_id, b.currency, TxnStatusName(b.status));
  });
  return rows;
}

// A cursor over one partition's booked rows for the merge.
struct MergeCursor {
  std::unique_ptr<SpillBuffer::Reader> reader;
  const BookedRecord* row = nullptr;

  Result<bool> Advance() {
    if (row != nullptr) reader->Consume(row->size());
    FH_ASSIGN_OR_RETURN(const bool more, reader->Ensure(sizeof(BookedRecord)));
    if (!more) {
      row = nullptr;
      return false;
    }
    const auto* header = reinterpret_cast<const BookedRecord*>(reader->data());
    FH_ASSIGN_OR_RETURN(const bool whole, reader->Ensure(header->size()));
    if (!whole) return DataLoss("ledger: a booked row is cut short in a spill file");
    row = reinterpret_cast<const BookedRecord*>(reader->data());
    return true;
  }
};

// Booked rows on their way from the merge thread to the warehouse thread: kPipeBatches batches
// of kPipeRows rows circulate between a free list and a full queue, so the merge (and the
// digest) of the next rows runs while the warehouse inserts the previous ones.
class RowPipe {
 public:
  using Batch = std::vector<TransactionRow>;

  explicit RowPipe(BusinessDate day) : storage_(kPipeBatches) {
    for (Batch& batch : storage_) {
      batch.resize(kPipeRows);
      for (TransactionRow& row : batch) row.business_date = day;
      free_.push_back(&batch);
    }
  }

  // Merge side. A batch to fill, or nullptr when the warehouse side gave up.
  Batch* TakeFree() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !free_.empty() || aborted_; });
    if (aborted_) return nullptr;
    Batch* batch = free_.front();
    free_.pop_front();
    return batch;
  }
  void PushFull(Batch* batch, std::size_t rows) {
    std::lock_guard lock(mutex_);
    full_.emplace_back(batch, rows);
    changed_.notify_all();
  }
  // No more batches; `status` is the merge's outcome.
  void Close(Status status) {
    std::lock_guard lock(mutex_);
    closed_ = true;
    status_ = std::move(status);
    changed_.notify_all();
  }

  // Warehouse side. The next full batch and its row count; nullptr once closed and drained.
  std::pair<Batch*, std::size_t> TakeFull() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !full_.empty() || closed_; });
    if (full_.empty()) return {nullptr, 0};
    const auto next = full_.front();
    full_.pop_front();
    return next;
  }
  void GiveBack(Batch* batch) {
    std::lock_guard lock(mutex_);
    free_.push_back(batch);
    changed_.notify_all();
  }
  void Abort() {
    std::lock_guard lock(mutex_);
    aborted_ = true;
    changed_.notify_all();
  }
  Status status() {
    std::lock_guard lock(mutex_);
    return status_;
  }

 private:
  std::vector<Batch> storage_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch*> free_;
  std::deque<std::pair<Batch*, std::size_t>> full_;
  bool closed_ = false;
  bool aborted_ = false;
  Status status_;
};

// The merge: every unit's booked rows in (partner_id, txn_id) order into the pipe and the digest,
// and against the far days' bookings (read in the same order).
Status Job::MergeBooked(RowPipe* pipe, Digest* digest, std::vector<FarDay>* far_days) {
  std::vector<MergeCursor> cursors(units_);
  const auto greater = [&cursors](std::size_t a, std::size_t b) {
    const BookedRecord* x = cursors[a].row;
    const BookedRecord* y = cursors[b].row;
    if (x->partner_rank != y->partner_rank) return x->partner_rank > y->partner_rank;
    return CompareTxn(x->txn_id(), y->txn_id()) > 0;
  };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(greater)> heap(greater);
  for (std::size_t unit = 0; unit < units_; ++unit) {
    cursors[unit].reader =
        std::make_unique<SpillBuffer::Reader>(booked_buffers_[unit].get(), merge_block_bytes_);
    FH_ASSIGN_OR_RETURN(const bool any, cursors[unit].Advance());
    if (any) heap.push(unit);
  }
  RowPipe::Batch* batch = nullptr;
  std::size_t rows = 0;
  while (!heap.empty()) {
    if (batch == nullptr) {
      batch = pipe->TakeFree();
      if (batch == nullptr) return Cancelled("the warehouse stopped taking rows");
      rows = 0;
    }
    const std::size_t unit = heap.top();
    heap.pop();
    const BookedRecord& booked = *cursors[unit].row;
    TransactionRow& row = (*batch)[rows];
    row.partner_id = names_by_rank_[booked.partner_rank];
    row.txn_id.assign(booked.txn_id());
    row.amount = AmountMinor(booked.amount_minor);
    row.currency.assign(booked.currency, 3);
    row.status = static_cast<TxnStatus>(booked.flags & kStatusMask);
    row.event_time = TimestampUs(booked.event_time_us);
    row.version = (booked.flags & kHasVersionBit) != 0 ? std::optional<std::int64_t>(booked.version)
                                                       : std::nullopt;
    row.versions = booked.versions;
    row.conflict = (booked.flags & kConflictBit) != 0;
    row.source_file = booked.file;
    row.source_line = booked.line;
    digest->Transaction(row);
    for (FarDay& far : *far_days) {
      FH_ASSIGN_OR_RETURN(const bool booked_there, far.Books(row.partner_id, row.txn_id));
      if (booked_there) far.found.Add(row.partner_id, row.txn_id, warehouse::kFindingKeysMax);
    }
    if (++rows == kPipeRows) {
      pipe->PushFull(batch, rows);
      batch = nullptr;
    }
    FH_ASSIGN_OR_RETURN(const bool more, cursors[unit].Advance());
    if (more) heap.push(unit);
  }
  if (batch != nullptr) pipe->PushFull(batch, rows);
  return Status::Ok();
}

// The merge runs on its own thread; this (the calling) thread inserts into the warehouse, the one
// step that cannot be split: on two cores the merge and digest cost next to nothing then.
Status Job::WriteTransactions(DayWriter* writer, Digest* digest, std::vector<FarDay>* far_days) {
  keys_to_write_ = 0;
  for (const WorkerTally& tally : tallies_)
    keys_to_write_ += static_cast<std::uint64_t>(tally.keys_booked);
  // The merge's read blocks (about two per unit) are counted while it runs.
  const auto merge_bytes = static_cast<std::int64_t>(2 * merge_block_bytes_ * units_);
  FH_RETURN_IF_ERROR(budget_.Add(merge_bytes));
  RowPipe pipe(options_.day);
  std::thread merge([&] { pipe.Close(MergeBooked(&pipe, digest, far_days)); });
  Status status;
  std::uint64_t written = 0;
  std::uint64_t reported = 0;
  while (true) {
    const auto [batch, rows] = pipe.TakeFull();
    if (batch == nullptr) break;
    for (std::size_t i = 0; i < rows && status.ok(); ++i)
      status = writer->AddTransaction((*batch)[i]);
    pipe.GiveBack(batch);
    if (!status.ok()) break;
    written += rows;
    if (written - reported >= 65536) {
      Report("write", written, keys_to_write_);
      reported = written;
    }
    if (CancelRequested()) {
      status = Cancelled("ledger run cancelled");
      break;
    }
  }
  if (!status.ok()) pipe.Abort();
  merge.join();
  budget_.Release(merge_bytes);
  FH_RETURN_IF_ERROR(status);
  return pipe.status();
}

Status Job::WriteConflicts(DayWriter* writer) {
  ConflictRow row;
  row.business_date = options_.day;
  for (std::size_t unit = 0; unit < units_; ++unit) {
    SpillBuffer::Reader reader(conflict_buffers_[unit].get(), merge_block_bytes_);
    while (true) {
      FH_ASSIGN_OR_RETURN(const bool more, reader.Ensure(sizeof(ConflictRecord)));
      if (!more) break;
      const auto* header = reinterpret_cast<const ConflictRecord*>(reader.data());
      FH_ASSIGN_OR_RETURN(const bool whole, reader.Ensure(header->size()));
      if (!whole) return DataLoss("ledger: a conflict row is cut short in a spill file");
      const auto& conflict = *reinterpret_cast<const ConflictRecord*>(reader.data());
      row.partner_id = names_by_rank_[conflict.partner_rank];
      row.txn_id.assign(conflict.txn_id());
      row.versions = conflict.versions;
      row.amount = AmountMinor(conflict.amount_minor);
      row.currency.assign(conflict.currency, 3);
      row.status = static_cast<TxnStatus>(conflict.status);
      row.other_amount = AmountMinor(conflict.other_amount_minor);
      row.other_currency.assign(conflict.other_currency, 3);
      row.other_status = static_cast<TxnStatus>(conflict.other_status);
      row.other_versions = conflict.other_versions;
      FH_RETURN_IF_ERROR(writer->AddConflict(row));
      reader.Consume(conflict.size());
    }
  }
  return Status::Ok();
}

std::vector<Finding> Job::Findings() const {
  std::map<FindingId, FoundKeys> merged;
  for (const WorkerTally& tally : tallies_) {
    for (const auto& [id, found] : tally.findings) merged[id].Merge(found, id.listed_max());
  }
  for (const auto& [offset, found] : far_found_) {
    if (found.keys > 0) merged[{FindingKind::kDoubleBooked, offset, 0}] = found;
  }
  std::vector<Finding> findings;
  for (const auto& [id, found] : merged) {
    Finding out;
    out.kind = id.kind;
    out.found_by_date = options_.day;
    out.business_date = options_.day.AddDays(id.offset);
    if (id.kind != FindingKind::kStale) out.other_date = options_.day.AddDays(id.other_offset);
    out.keys = found.keys;
    nlohmann::json examples = nlohmann::json::array();
    for (const Key& key : found.smallest) {
      if (examples.size() == warehouse::kFindingExamples) break;
      examples.push_back({key.first, key.second});
    }
    out.examples = examples.dump();
    if (id.kind != FindingKind::kStale) {
      out.listed_keys.assign(found.smallest.begin(), found.smallest.end());
    }
    findings.push_back(std::move(out));
  }
  return findings;
}

RunRecord Job::MakeRun(const std::string& digest) const {
  RunRecord run;
  run.business_date = options_.day;
  run.started_at = started_at_;
  run.finished_at = NowUs();
  run.dedup_window_days = options_.dedup_window_days;
  run.timezone = options_.timezone;
  run.partitions = static_cast<std::int64_t>(partitions_);
  run.threads = threads_;
  run.memory_bytes_max = options_.memory_bytes_max;
  run.files_read = static_cast<std::int64_t>(inputs_.size());
  run.bytes_read = bytes_read_;
  run.lines_read = lines_in_window_;
  run.lines_in_day = lines_in_day_;
  for (const WorkerTally& tally : tallies_) {
    run.keys_booked += tally.keys_booked;
    run.versions_read += tally.versions_booked;
    run.conflicts += tally.conflicts;
  }
  run.duplicates = run.versions_read - run.keys_booked;
  run.quarantined = quarantined_;
  run.spilled_bytes = budget_.spilled_bytes();
  run.partition_sizes.assign(partitions_, 0);
  for (std::size_t unit = 0; unit < units_; ++unit) {
    run.partition_sizes[PartitionOfUnit(unit)] += unit_records_[unit].load();
  }
  run.digest = digest;
  nlohmann::json timings(timings_ms_);
  timings["total_ms"] = ElapsedMs(started_);
  timings["cpu_ms"] = ProcessCpuMs() - started_cpu_ms_;
  run.timings_json = timings.dump();
  return run;
}

Result<JobResult> Job::Run() {
  started_ = std::chrono::steady_clock::now();
  started_cpu_ms_ = ProcessCpuMs();
  started_at_ = NowUs();
  if (options_.dedup_window_days < 0 || options_.dedup_window_days > 31) {
    return InvalidArgument("ledger: the dedup window must be 0..31 days");
  }
  auto started = std::chrono::steady_clock::now();
  FH_RETURN_IF_ERROR(ListInputs());
  timings_ms_["list_ms"] = ElapsedMs(started);
  FH_RETURN_IF_ERROR(ReserveMemory());
  FH_RETURN_IF_ERROR(PrepareSpill());
  PlanUnits();
  FH_RETURN_IF_ERROR(ScanAll());
  FH_RETURN_IF_ERROR(ProcessAll());
  // Every total is checked before the warehouse is touched: an overflow writes nothing.
  FH_ASSIGN_OR_RETURN(std::vector<TotalRow> totals, SumTotals());

  if (CancelRequested()) return Cancelled("ledger run cancelled");
  started = std::chrono::steady_clock::now();
  FH_ASSIGN_OR_RETURN(std::unique_ptr<DayWriter> writer, warehouse_->BeginDay(options_.day));
  // After the write lock: of two runs of days far apart at once, the second to take it reads
  // the first's committed bookings.
  FH_ASSIGN_OR_RETURN(std::vector<FarDay> far_days, OpenFarDays());
  Digest digest;
  FH_RETURN_IF_ERROR(WriteTransactions(writer.get(), &digest, &far_days));
  // The far days' reads end before the commit (an open SQLite read holds the checkpoint back).
  for (FarDay& far : far_days) far_found_[far.offset] = std::move(far.found);
  far_days.clear();
  budget_.Release(lookup_resident_bytes_ * static_cast<std::int64_t>(far_offsets_.size()));
  for (const TotalRow& total : totals) {
    digest.Total(total);
    FH_RETURN_IF_ERROR(writer->AddTotal(total));
  }
  FH_RETURN_IF_ERROR(WriteConflicts(writer.get()));
  std::vector<RunFile> files;
  files.reserve(inputs_.size());
  for (const InputFile& input : inputs_) {
    files.push_back({input.index, input.lake_file.file.path, input.lake_file.file.date,
                     input.lake_file.file.bytes, input.lake_file.file.sha256,
                     input.lake_file.file.lines});
  }
  timings_ms_["write_ms"] = ElapsedMs(started);
  JobResult result;
  result.findings = Findings();
  result.run = MakeRun(digest.Finish());
  started = std::chrono::steady_clock::now();
  FH_ASSIGN_OR_RETURN(result.run.run_id, writer->Commit(result.run, files, result.findings));
  // The commit (and the checkpoint that copies the day into the database file) comes after the
  // run record is written: its time is in the log, not in the record.
  spdlog::info("ledger {}: committed run {} in {} ms (peak budget {} MiB of {} MiB)",
               options_.day.ToString(), result.run.run_id, ElapsedMs(started),
               budget_.peak_bytes() >> 20, data_bytes_max_ >> 20);
  for (Finding& finding : result.findings) finding.found_by_run = result.run.run_id;
  result.totals = std::move(totals);
  result.peak_memory_bytes = budget_.peak_bytes();

  MetricsRegistry& metrics = Metrics();
  metrics
      .CounterFor("firehose_received_total", {{"stage", std::string(kStage)}, {"partner", "_all"}})
      .Add(static_cast<std::uint64_t>(result.run.lines_read));
  metrics.CounterFor("firehose_written_events_total", {{"stage", std::string(kStage)}})
      .Add(static_cast<std::uint64_t>(result.run.keys_booked));
  metrics.CounterFor("firehose_ledger_runs_total").Add();
  return result;
}

}  // namespace

std::uint64_t KeyHash(std::string_view partner_id, std::string_view txn_id) {
  char buffer[PartnerId::kBytesMax + 1 + TxnId::kBytesMax];
  if (partner_id.size() + 1 + txn_id.size() <= sizeof buffer) {
    std::memcpy(buffer, partner_id.data(), partner_id.size());
    buffer[partner_id.size()] = '\0';
    std::memcpy(buffer + partner_id.size() + 1, txn_id.data(), txn_id.size());
    return XXH3_64bits(buffer, partner_id.size() + 1 + txn_id.size());
  }
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, partner_id.data(), partner_id.size());
  XXH3_64bits_update(&state, "", 1);
  XXH3_64bits_update(&state, txn_id.data(), txn_id.size());
  return XXH3_64bits_digest(&state);
}

JobOptions JobOptions::FromConfig(const Config& config, BusinessDate day) {
  JobOptions options;
  options.lake_root = lake::LakeRoot(config.data_dir);
  options.day = day;
  options.dedup_window_days = static_cast<int>(config.limits.ledger_dedup_window_days);
  options.partitions = config.ledger.partitions;
  options.threads = config.ledger.threads;
  options.memory_bytes_max = config.limits.ledger_memory_bytes_max;
  options.spill_dir = config.data_dir / "ledger" / "spill";
  options.timezone = config.lake.calendar.zone_name();
  return options;
}

warehouse::Warehouse::CacheBytes WarehouseCacheBytes(std::int64_t memory_bytes_max,
                                                     bool looks_up) {
  return {.writer = std::clamp<std::int64_t>(memory_bytes_max / kWriterCacheDivisor,
                                             kWriterCacheBytesMin, kWriterCacheBytesMax),
          .lookup = looks_up ? std::clamp<std::int64_t>(memory_bytes_max / kLookupCacheDivisor,
                                                        kLookupCacheBytesMin, kLookupCacheBytesMax)
                             : kLookupCacheBytesMin};
}

Result<JobResult> RunLedgerDay(const JobOptions& options, warehouse::Warehouse* warehouse) {
  Job job(options, warehouse);
  Result<JobResult> result = job.Run();
  if (!result.ok()) {
    Metrics()
        .CounterFor("firehose_errors_total", {{"stage", std::string(kStage)}, {"kind", "run"}})
        .Add();
  }
  return result;
}

}  // namespace firehose::ledger
