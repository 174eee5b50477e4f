#include "sim/sim_lake.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "core/config.h"
#include "lake/lake_format.h"
#include "lake/lake_writer.h"
#include "sim/fleet.h"
#include "sim/payloads.h"
#include "sim/random.h"

namespace firehose::sim {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kSecondUs = 1'000'000;
constexpr std::int64_t kReceiveDelayUs = 2 * kSecondUs;
constexpr std::int64_t kLateResendAfterDayUs = 12 * 3600 * kSecondUs;
constexpr std::size_t kRecordsPerWrite = 1024;

// A ULID (48-bit millisecond time, 80 bits of the chunk's stream), so that the lake's bytes are
// a function of the options.
ArrivalId DeterministicUlid(TimestampUs time, SimRandom* random) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const auto millis = static_cast<std::uint64_t>(time.value() / 1000);
  const std::uint64_t high = random->Next() & 0xFFFF;  // 16 bits
  const std::uint64_t low = random->Next();            // 64 bits
  // 128 bits, big-endian: millis (48) | high (16) | low (64).
  unsigned char bytes[16];
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<unsigned char>(millis >> (40 - 8 * i));
  bytes[6] = static_cast<unsigned char>(high >> 8);
  bytes[7] = static_cast<unsigned char>(high);
  for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<unsigned char>(low >> (56 - 8 * i));
  // 26 base32 characters carry 130 bits: the first one holds the top 3 (2 of them zero).
  std::string text(26, '0');
  for (int c = 0; c < 26; ++c) {
    unsigned value = 0;
    for (int b = 0; b < 5; ++b) {
      const int bit = c * 5 + b - 2;  // bit index in the 128, from the top
      value <<= 1;
      if (bit >= 0) value |= (bytes[bit / 8] >> (7 - bit % 8)) & 1u;
    }
    text[static_cast<std::size_t>(c)] = kAlphabet[value];
  }
  return ArrivalId::FromTrusted(std::move(text));
}

std::uint64_t ChunkSeed(std::uint64_t seed, std::int64_t chunk) {
  return SimRandom::Stream(seed, "sim_lake_chunk", static_cast<std::uint64_t>(chunk)).Next();
}

// The latest event time a send carries (its events, or the carrier of a malformed part).
TimestampUs LatestEventTime(const Plan& plan, const PlannedSend& send) {
  const PlannedSend* source = &send;
  while (source->copy_of >= 0) source = &plan.sends[static_cast<std::size_t>(source->copy_of)];
  TimestampUs latest(INT64_MIN);
  for (std::uint32_t event : source->events)
    latest = std::max(latest, plan.events[event].event_time);
  if (source->carrier >= 0) {
    latest = std::max(latest, plan.carriers[static_cast<std::size_t>(source->carrier)].event_time);
  }
  return latest;
}

struct ChunkResult {
  Truth truth;
  std::int64_t records = 0;
  std::int64_t events = 0;
  std::int64_t quarantined = 0;
};

Result<ChunkResult> LandChunk(const Config& config, const Fleet& fleet,
                              const SimLakeOptions& options, std::int64_t chunk,
                              std::atomic<std::int64_t>* done) {
  GeneratorOptions generator;
  generator.seed = ChunkSeed(options.seed, chunk);
  generator.transactions = std::min(options.chunk_transactions,
                                    options.transactions - chunk * options.chunk_transactions);
  generator.day = options.day;
  generator.calendar = config.lake.calendar;
  generator.faults = options.faults;
  // Big amounts (above 2^53) only in the first chunk: enough to test, never enough to overflow.
  generator.big_amounts = chunk == 0 ? -1 : 0;
  generator.txn_number_base = chunk * options.chunk_transactions;
  FH_ASSIGN_OR_RETURN(const Plan plan, GeneratePlan(fleet, generator));

  std::vector<bool> acknowledged(plan.sends.size());
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    acknowledged[i] = plan.sends[i].bad_signature == BadSignature::kNone;
  }
  ChunkResult result;
  FH_ASSIGN_OR_RETURN(result.truth, ComputeTruth(fleet, plan, acknowledged, config.lake.calendar));

  lake::LakeWriterOptions writer_options = lake::LakeWriterOptions::FromConfig(config);
  char writer_id[24];
  std::snprintf(writer_id, sizeof writer_id, "s%06lld", static_cast<long long>(chunk));
  writer_options.writer_id = writer_id;
  if (options.lake_file_bytes_max > 0) writer_options.file_bytes_max = options.lake_file_bytes_max;
  // Ranges roll by size only: a slow machine must not change the lake's files.
  writer_options.roll_age_ms = INT64_MAX / 2;
  FH_ASSIGN_OR_RETURN(std::unique_ptr<lake::LakeWriter> writer,
                      lake::LakeWriter::Open(config, writer_options));

  SimRandom ids = SimRandom::Stream(generator.seed, "arrival_id");
  const TimestampUs day_end = config.lake.calendar.StartOf(options.day.AddDays(1));
  TimestampUs previous(INT64_MIN);
  std::uint64_t offset = writer->next_offset().value();
  std::vector<Delivery> batch;
  batch.reserve(kRecordsPerWrite);
  std::int64_t landed_transactions = 0;
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    const PlannedSend& send = plan.sends[i];
    if (!acknowledged[i]) continue;
    TimestampUs received(LatestEventTime(plan, send).value() + kReceiveDelayUs);
    if (send.phase == 2)
      received = std::max(received, TimestampUs(day_end.value() + kLateResendAfterDayUs));
    received = std::max(received, TimestampUs(previous.value() + 1));
    previous = received;
    Delivery delivery;
    delivery.offset = QueueOffset(offset++);
    QueueRecord& record = delivery.record;
    record.arrival_id = DeterministicUlid(received, &ids);
    record.partner_id = fleet.partners[send.partner].id;
    record.source = ArrivalSource::kWebhook;
    record.received_at = received;
    record.signature_id = send.message_id;
    record.remote_address = "sim-lake";
    record.body = RenderBody(fleet, plan, i);
    batch.push_back(std::move(delivery));
    ++result.records;
    result.events += static_cast<std::int64_t>(send.events.size());
    if (send.malformation) ++result.quarantined;
    if (send.kind == SendKind::kOriginal) {
      landed_transactions += static_cast<std::int64_t>(send.events.size());
    }
    if (batch.size() == kRecordsPerWrite) {
      FH_RETURN_IF_ERROR(writer->Write(batch));
      batch.clear();
      *done += landed_transactions;
      landed_transactions = 0;
    }
  }
  if (!batch.empty()) FH_RETURN_IF_ERROR(writer->Write(batch));
  FH_RETURN_IF_ERROR(writer->Flush());
  *done += landed_transactions;
  return result;
}

Status CheckEmpty(const fs::path& data_dir) {
  std::error_code error;
  const fs::path lake = lake::LakeRoot(data_dir);
  if (fs::exists(lake, error) && !fs::is_empty(lake, error)) {
    return AlreadyExists(lake.string() + " already holds a lake: choose an empty --out");
  }
  return Status::Ok();
}

}  // namespace

Result<SimLakeSummary> WriteSimLake(const SimLakeOptions& options) {
  if (options.transactions < 1) return InvalidArgument("--events must be at least 1");
  if (options.chunk_transactions < 1) return InvalidArgument("the chunk size must be at least 1");
  FH_RETURN_IF_ERROR(CheckEmpty(options.data_dir));
  FH_ASSIGN_OR_RETURN(const Fleet written_fleet, MakeFleet({options.partner_slots, options.seed}));
  ConfigFileOptions file_options;
  file_options.data_dir = ".";
  file_options.seed = options.seed;
  FH_RETURN_IF_ERROR(WriteConfigDirectory(written_fleet, file_options, options.data_dir));
  SimLakeSummary summary;
  summary.config_path = options.data_dir / "firehose.toml";
  FH_ASSIGN_OR_RETURN(const Config config, LoadConfigOrStatus(summary.config_path));
  FH_ASSIGN_OR_RETURN(const Fleet fleet, FleetFromConfig(config));

  const std::int64_t chunks =
      (options.transactions + options.chunk_transactions - 1) / options.chunk_transactions;
  summary.chunks = chunks;
  std::vector<std::optional<ChunkResult>> results(static_cast<std::size_t>(chunks));
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> done{0};
  std::mutex mutex;
  std::condition_variable finished_cv;
  Status first_error;
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int running = threads;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (true) {
        {
          std::lock_guard lock(mutex);
          if (!first_error.ok()) break;
        }
        const std::int64_t chunk = next++;
        if (chunk >= chunks) break;
        Result<ChunkResult> result = LandChunk(config, fleet, options, chunk, &done);
        std::lock_guard lock(mutex);
        if (!result.ok()) {
          if (first_error.ok()) first_error = result.status();
          break;
        }
        results[static_cast<std::size_t>(chunk)] = std::move(*result);
      }
      std::lock_guard lock(mutex);
      --running;
      finished_cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    while (running > 0) {
      finished_cv.wait_for(lock, std::chrono::milliseconds(200));
      if (options.on_progress) options.on_progress(done.load(), options.transactions);
    }
  }
  for (std::thread& worker : workers) worker.join();
  if (!first_error.ok()) return first_error;

  Truth& truth = summary.truth;
  truth.seed = options.seed;
  truth.day = options.day;
  truth.timezone = config.lake.calendar.zone_name();
  for (const std::optional<ChunkResult>& result : results) {
    FH_RETURN_IF_ERROR(AddTruth(result->truth, &truth));
    summary.records += result->records;
    summary.events += result->events;
    summary.quarantined += result->quarantined;
  }
  std::sort(truth.conflicts.begin(), truth.conflicts.end(),
            [](const TruthConflict& a, const TruthConflict& b) {
              return std::tie(a.partner_id, a.txn_id) < std::tie(b.partner_id, b.txn_id);
            });
  FH_RETURN_IF_ERROR(WriteTruthDirectory(truth, options.data_dir / "truth"));
  return summary;
}

}  // namespace firehose::sim
