// Lake throughput, each figure next to an anchor measured in the same run (BASELINES.md: the
// machine is shared and noisy, so only ratios are claims).
//
//   BM_Landing          queue records -> mapped -> NDJSON lines -> zstd temp files -> published
//                       (fsync, manifest, rename): events/s on one core. Target >= 200 k/s.
//   BM_LandingFromLog   the same, fed by the real embedded log: Fetch from a durable consumer
//                       over 100 k appended records, Write, Flush.
//   BM_LandingAnchor    zstd level 1 of the same NDJSON bytes, nothing else: the floor the
//                       writer cannot beat (ratio = landing / anchor).
// Rates are per CPU-second of the benchmark thread ("per core"), which a loaded machine
// disturbs less than wall time; BM_Landing's fsync waits are therefore not in its rate.
//
//   BM_Read             one lake file: decompress + split + parse every raw line
//                       (RawLineParser): lines/s on one core. Target >= 1 M/s on ~600-byte lines.
//   BM_ReadAnchor       zstd decompression of the same file, no splitting or parsing.
//
// Run: build/release/bin/lake_bench --benchmark_min_time=2 (bench/RESULTS.md "## Lake").
#include <benchmark/benchmark.h>
#include <zstd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "core/time.h"
#include "lake/lake_line.h"
#include "lake/lake_reader.h"
#include "lake/lake_test_util.h"
#include "lake/lake_writer.h"
#include "queue/embedded_log.h"

namespace firehose::lake {
namespace {

namespace fs = std::filesystem;

constexpr int kBatchRecords = 1000;

// A ~600-byte partner event (the size DESIGN sizes the platform for).
std::string EventBody(int i, std::size_t target_bytes) {
  std::string body = testing::AcmeBody("txn_" + std::to_string(1'000'000 + i), "1234.56",
                                       "2026-11-27T10:00:00.123456Z", i % 9 == 0 ? "ko" : "ok");
  body.pop_back();  // '}'
  if (target_bytes > 300)
    body += R"(,"customer":{"id":"cus_0123456789","email":"someone@example.com"})";
  body += R"(,"meta":")";
  while (body.size() + 2 < target_bytes) body.push_back(static_cast<char>('a' + body.size() % 26));
  return body + "\"}";
}

std::vector<Delivery> Batch(std::size_t event_bytes) {
  std::vector<QueueRecord> records;
  for (int i = 0; i < kBatchRecords; ++i) {
    records.push_back(testing::MakeRecord("acme", EventBody(i, event_bytes),
                                          *ParseRfc3339("2026-11-27T10:00:01Z")));
  }
  return testing::Deliveries(records);
}

struct Lake {
  Lake() : config(testing::TestConfig(dir.path())) {}
  testing::TempDir dir;
  Config config;
};

void BM_Landing(benchmark::State& state) {
  Lake lake;
  LakeWriterOptions options = LakeWriterOptions::FromConfig(lake.config);
  options.file_bytes_max = 64 << 20;
  auto writer = LakeWriter::Open(lake.config, options).value();
  std::vector<Delivery> batch = Batch(600);
  std::uint64_t offset = 0;
  for (auto _ : state) {
    for (Delivery& delivery : batch) delivery.offset = QueueOffset(offset++);
    if (!writer->Write(batch).ok()) state.SkipWithError("write failed");
  }
  if (!writer->Flush().ok()) state.SkipWithError("flush failed");
  state.SetItemsProcessed(static_cast<std::int64_t>(offset));
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(offset), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Landing)->Unit(benchmark::kMillisecond);

// An embedded log holding kLogRecords durable ~600-byte records, built once.
constexpr int kLogRecords = 100'000;

struct LogFixture {
  LogFixture() : config(testing::TestConfig(dir.path())) {
    log = EmbeddedLog::Open(dir.path() / "queue", config.limits).value();
    std::vector<Delivery> batch = Batch(600);
    std::mutex mutex;
    std::condition_variable done;
    int pending = 0;
    // In chunks: in_flight_appends_max bounds what the log takes at once.
    for (int appended = 0; appended < kLogRecords; appended += kBatchRecords) {
      pending = kBatchRecords;
      for (const Delivery& delivery : batch) {
        log->Append(delivery.record, [&](Result<QueueOffset> offset) {
          FH_CHECK(offset.ok(), "fixture append failed");
          std::lock_guard lock(mutex);
          if (--pending == 0) done.notify_one();
        });
      }
      std::unique_lock lock(mutex);
      done.wait(lock, [&] { return pending == 0; });
    }
  }
  testing::TempDir dir;
  Config config;
  std::unique_ptr<EmbeddedLog> log;
};

void BM_LandingFromLog(benchmark::State& state) {
  static LogFixture* fixture = new LogFixture();
  std::int64_t events = 0;
  int round = 0;
  for (auto _ : state) {
    state.PauseTiming();
    testing::TempDir lake_dir;
    LakeWriterOptions options = LakeWriterOptions::FromConfig(fixture->config);
    options.lake_root = LakeRoot(lake_dir.path());
    options.file_bytes_max = 64 << 20;
    auto writer = LakeWriter::Open(fixture->config, options).value();
    auto consumer = fixture->log->OpenConsumer("bench" + std::to_string(round++)).value();
    state.ResumeTiming();
    while (true) {
      std::vector<Delivery> batch = consumer->Fetch(4096, 8 << 20, std::chrono::milliseconds(0)).value();
      if (batch.empty()) break;
      if (!writer->Write(batch).ok()) state.SkipWithError("write failed");
      events += static_cast<std::int64_t>(batch.size());
    }
    if (!writer->Flush().ok()) state.SkipWithError("flush failed");
    state.PauseTiming();
    writer.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(events);
  state.counters["events/s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LandingFromLog)->Unit(benchmark::kMillisecond)->Iterations(3);

// The NDJSON the writer produces for Batch(600), compressed the way the writer does.
void BM_LandingAnchor(benchmark::State& state) {
  std::string lines;
  const std::string received = FormatRfc3339Micros(*ParseRfc3339("2026-11-27T10:00:01Z"));
  Limits limits;
  Mapper mapper(limits);
  const Config config = testing::TestConfig("/nonexistent");
  for (const Delivery& delivery : Batch(600)) {
    const MappedArrival mapped = mapper.Map(
        delivery.record.partner_id, *config.FindPartner("acme")->mapping, delivery.record.body);
    const LineEnvelope envelope{"acme",
                                delivery.record.arrival_id.view(),
                                delivery.record.received_at,
                                received,
                                "webhook",
                                delivery.offset};
    AppendRawLine(envelope, mapped.events[0].event, BusinessDate::FromCivil(2026, 11, 27), 0,
                  mapped.events[0].raw, &lines);
  }
  ZSTD_CCtx* context = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 1);
  std::string out(ZSTD_compressBound(lines.size()), '\0');
  std::int64_t events = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        ZSTD_compress2(context, out.data(), out.size(), lines.data(), lines.size()));
    events += kBatchRecords;
  }
  ZSTD_freeCCtx(context);
  state.SetItemsProcessed(events);
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["line_bytes"] = static_cast<double>(lines.size()) / kBatchRecords;
}
BENCHMARK(BM_LandingAnchor)->Unit(benchmark::kMillisecond);

// One published file of ~600-byte lines (raw events of ~250 bytes), built once.
struct ReadFixture {
  ReadFixture() : config(testing::TestConfig(dir.path())) {
    LakeWriterOptions options = LakeWriterOptions::FromConfig(config);
    auto writer = LakeWriter::Open(config, options).value();
    std::vector<Delivery> batch = Batch(130);
    std::uint64_t offset = 0;
    for (int round = 0; round < 200; ++round) {
      for (Delivery& delivery : batch) delivery.offset = QueueOffset(offset++);
      FH_CHECK(writer->Write(batch).ok(), "fixture write");
    }
    FH_CHECK(writer->Flush().ok(), "fixture flush");
    const LakeListing listing = ListLake(LakeRoot(dir.path())).value();
    const LakeFile file = listing.Files(Zone::kRaw).at(0);
    path = LakeRoot(dir.path()) / file.file.path;
    lines = file.file.lines;
    line_bytes =
        static_cast<double>(file.file.uncompressed_bytes) / static_cast<double>(file.file.lines);
  }
  testing::TempDir dir;
  Config config;
  fs::path path;
  std::uint64_t lines = 0;
  double line_bytes = 0;
};

ReadFixture& Fixture() {
  static ReadFixture* fixture = new ReadFixture();
  return *fixture;
}

void BM_Read(benchmark::State& state) {
  ReadFixture& fixture = Fixture();
  RawLineParser parser(/*with_raw=*/state.range(0) != 0);
  std::uint64_t lines = 0;
  for (auto _ : state) {
    auto reader = LineReader::Open(fixture.path).value();
    std::string_view line;
    RawLineView view;
    while (*reader->Next(&line)) {
      if (!parser.ParsePadded(line, &view).ok()) state.SkipWithError("parse failed");
      benchmark::DoNotOptimize(view.amount_minor);
      ++lines;
    }
  }
  state.counters["lines/s"] =
      benchmark::Counter(static_cast<double>(lines), benchmark::Counter::kIsRate);
  state.counters["line_bytes"] = fixture.line_bytes;
}
BENCHMARK(BM_Read)->Arg(0)->Arg(1)->ArgName("with_raw")->Unit(benchmark::kMillisecond);

void BM_ReadSplitOnly(benchmark::State& state) {
  ReadFixture& fixture = Fixture();
  std::uint64_t lines = 0;
  for (auto _ : state) {
    auto reader = LineReader::Open(fixture.path).value();
    std::string_view line;
    while (*reader->Next(&line)) ++lines;
  }
  state.counters["lines/s"] =
      benchmark::Counter(static_cast<double>(lines), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadSplitOnly)->Unit(benchmark::kMillisecond);

void BM_ReadAnchor(benchmark::State& state) {
  ReadFixture& fixture = Fixture();
  std::string compressed;
  {
    std::ifstream in(fixture.path, std::ios::binary);
    compressed.assign(std::istreambuf_iterator<char>(in), {});
  }
  ZSTD_DCtx* context = ZSTD_createDCtx();
  std::vector<char> out(ZSTD_DStreamOutSize());
  std::uint64_t lines = 0;
  for (auto _ : state) {
    ZSTD_DCtx_reset(context, ZSTD_reset_session_only);
    ZSTD_inBuffer input{compressed.data(), compressed.size(), 0};
    while (input.pos < input.size) {
      ZSTD_outBuffer output{out.data(), out.size(), 0};
      benchmark::DoNotOptimize(ZSTD_decompressStream(context, &output, &input));
    }
    lines += fixture.lines;
  }
  ZSTD_freeDCtx(context);
  state.counters["lines/s"] =
      benchmark::Counter(static_cast<double>(lines), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadAnchor)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace firehose::lake

BENCHMARK_MAIN();
