#include "queue/embedded_log.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/arrival_id.h"
#include "core/crc32c.h"
#include "core/fault.h"
#include "core/file.h"
#include "core/metrics.h"
#include "queue/log_format.h"

namespace firehose {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// A fresh directory per test, removed afterwards: on the disk by default, or in /dev/shm for
// tests that only exercise recovery logic and would otherwise spend their time in fsync.
class TempDir {
 public:
  explicit TempDir(bool in_memory = false) {
    const fs::path parent = in_memory && fs::is_directory("/dev/shm") ? fs::path("/dev/shm")
                                                                      : fs::temp_directory_path();
    std::string pattern = (parent / "firehose-log-XXXXXX").string();
    FH_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

Limits TestLimits() {
  Limits limits;
  limits.queue_bytes_max = 256 << 20;
  limits.segment_bytes_max = 64 << 10;
  limits.record_bytes_max = 16 << 10;
  limits.group_commit_bytes_max = 1 << 20;
  return limits;
}

// For tests that build segment files byte by byte: no zeros after the last frame.
Limits NoPrefillLimits() {
  Limits limits = TestLimits();
  limits.segment_prefill_bytes = 0;
  return limits;
}

QueueRecord MakeRecord(std::string body, std::string_view partner = "acme") {
  QueueRecord record;
  record.arrival_id = NewArrivalId(TimestampUs(1'764'237'600'000'000));
  record.partner_id = *PartnerId::Parse(partner);
  record.source = ArrivalSource::kWebhook;
  record.received_at = TimestampUs(1'764'237'600'123'456);
  record.signature_id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
  record.remote_address = "127.0.0.1:50522";
  record.body = std::move(body);
  return record;
}

// A body of `size` bytes that names `tag`, so that any two records differ.
std::string Body(const std::string& tag, std::size_t size) {
  std::string body = "{\"tag\":\"" + tag + "\",\"pad\":\"";
  while (body.size() + 2 < size) body.push_back(static_cast<char>('a' + body.size() % 26));
  return body + "\"}";
}

std::unique_ptr<EmbeddedLog> OpenOrDie(const fs::path& dir, const Limits& limits = TestLimits(),
                                       EmbeddedLog::Clock clock = NowUs) {
  auto log = EmbeddedLog::Open(dir, limits, std::move(clock));
  FH_CHECK(log.ok(), log.status().ToString());
  return std::move(log).value();
}

Result<QueueOffset> AppendSync(Queue& queue, QueueRecord record) {
  std::promise<Result<QueueOffset>> promise;
  auto future = promise.get_future();
  queue.Append(std::move(record),
               [&](Result<QueueOffset> result) { promise.set_value(std::move(result)); });
  return future.get();
}

// Everything the consumer can read now, in order.
std::vector<Delivery> Drain(QueueConsumer& consumer, std::size_t records_max = 1000) {
  std::vector<Delivery> all;
  while (true) {
    auto batch = consumer.Fetch(records_max, 8 << 20, 0ms);
    FH_CHECK(batch.ok(), batch.status().ToString());
    if (batch->empty()) return all;
    for (Delivery& delivery : *batch) all.push_back(std::move(delivery));
  }
}

std::vector<std::string> Bodies(const std::vector<Delivery>& deliveries) {
  std::vector<std::string> bodies;
  for (const Delivery& delivery : deliveries) bodies.push_back(delivery.record.body);
  return bodies;
}

std::vector<std::string> ReadAllBodies(const fs::path& dir, const Limits& limits = TestLimits()) {
  auto log = OpenOrDie(dir, limits);
  auto consumer = log->OpenConsumer("verify");
  FH_CHECK(consumer.ok(), consumer.status().ToString());
  FH_CHECK((*consumer)->Seek(log->Stats().first_offset).ok(), "seek");
  return Bodies(Drain(**consumer));
}

std::uint64_t CounterValue(std::string_view name, const Labels& filter = {}) {
  return Metrics().SumCounters(name, filter);
}

std::string ReadBytes(const fs::path& path) { return *ReadFile(path, 1 << 30); }

void WriteBytes(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A copy of a live log's directory: what a crash (kill -9) leaves of it, since every
// acknowledged record is durable and nothing else is written behind the writer's back.
void CopyLiveLog(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  fs::remove(to / "LOCK");
}

fs::path SegmentPath(const fs::path& dir, std::uint64_t base) {
  return dir / log_format::SegmentFileName(QueueOffset(base));
}

// Positions where each frame of a segment ends, from the segment's own bytes.
std::vector<std::uint64_t> FrameEnds(const std::string& segment) {
  std::vector<std::uint64_t> ends;
  std::uint64_t position = log_format::kSegmentHeaderBytes;
  log_format::Frame frame;
  while (log_format::ParseFrame(std::string_view(segment).substr(position), &frame) ==
         log_format::FrameCheck::kOk) {
    position += frame.bytes;
    ends.push_back(position);
  }
  return ends;
}

class EmbeddedLogTest : public ::testing::Test {
 protected:
  void TearDown() override { fault::SetForTest(""); }
  TempDir dir_;
};

// ---- appending and reading ------------------------------------------------------------------

TEST_F(EmbeddedLogTest, AppendThenFetchRoundTripsEveryField) {
  auto log = OpenOrDie(dir_.path());
  QueueRecord first = MakeRecord(std::string("{\"a\":1}\0binary\xff", 15));
  first.source = ArrivalSource::kPoll;
  const QueueRecord expected = first;
  EXPECT_EQ(*AppendSync(*log, std::move(first)), QueueOffset(0));
  EXPECT_EQ(*AppendSync(*log, MakeRecord("second", "globex")), QueueOffset(1));

  auto consumer = log->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  auto fetched = (*consumer)->Fetch(10, 1 << 20, 0ms);
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  ASSERT_EQ(fetched->size(), 2u);
  const Delivery& got = (*fetched)[0];
  EXPECT_EQ(got.offset, QueueOffset(0));
  EXPECT_EQ(got.record.arrival_id, expected.arrival_id);
  EXPECT_EQ(got.record.partner_id, expected.partner_id);
  EXPECT_EQ(got.record.source, ArrivalSource::kPoll);
  EXPECT_EQ(got.record.received_at, expected.received_at);
  EXPECT_EQ(got.record.signature_id, expected.signature_id);
  EXPECT_EQ(got.record.remote_address, expected.remote_address);
  EXPECT_EQ(got.record.body, expected.body);
  EXPECT_EQ((*fetched)[1].offset, QueueOffset(1));
  EXPECT_EQ((*fetched)[1].record.partner_id.str(), "globex");

  const QueueStats stats = log->Stats();
  EXPECT_EQ(stats.first_offset, QueueOffset(0));
  EXPECT_EQ(stats.next_offset, QueueOffset(2));
  EXPECT_GT(stats.bytes, 0u);
  ASSERT_EQ(stats.consumers.size(), 1u);
  EXPECT_EQ(stats.consumers[0].name, "lake");
  EXPECT_EQ(stats.consumers[0].lag_records, 2u);
  ASSERT_TRUE((*consumer)->Commit(QueueOffset(1)).ok());
  EXPECT_EQ(log->Stats().consumers[0].lag_records, 0u);
}

TEST_F(EmbeddedLogTest, ConcurrentAppendsGetDenseOffsetsAndShareFsyncs) {
  auto log = OpenOrDie(dir_.path());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  const std::uint64_t fsyncs_before = CounterValue("firehose_queue_fsyncs_total");
  const std::uint64_t appends_before = CounterValue("firehose_queue_appends_total");

  std::mutex mutex;
  std::condition_variable all_done;
  std::map<std::string, std::vector<QueueOffset>> offsets_by_body;  // every callback, by record
  int completed = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string body =
            Body("t" + std::to_string(t) + "-" + std::to_string(i), 300 + (i % 7) * 100);
        log->Append(MakeRecord(body), [&, body](Result<QueueOffset> result) {
          FH_CHECK(result.ok(), result.status().ToString());
          std::lock_guard lock(mutex);
          offsets_by_body[body].push_back(*result);
          if (++completed == kThreads * kPerThread) all_done.notify_one();
        });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(all_done.wait_for(lock, 20s, [&] { return completed == kThreads * kPerThread; }));
  }

  std::set<std::uint64_t> offsets;
  for (const auto& [body, calls] : offsets_by_body) {
    ASSERT_EQ(calls.size(), 1u) << "callback ran " << calls.size() << " times";
    offsets.insert(calls[0].value());
  }
  ASSERT_EQ(offsets.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(*offsets.begin(), 0u);
  EXPECT_EQ(*offsets.rbegin(), static_cast<std::uint64_t>(kThreads * kPerThread - 1));

  const std::uint64_t fsyncs = CounterValue("firehose_queue_fsyncs_total") - fsyncs_before;
  const std::uint64_t appends = CounterValue("firehose_queue_appends_total") - appends_before;
  EXPECT_EQ(appends, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_GT(appends, fsyncs * 2) << appends << " appends shared only " << fsyncs << " fsyncs";
  std::printf("%lu appends, %lu fsyncs: %.1f appends per fsync\n",
              static_cast<unsigned long>(appends), static_cast<unsigned long>(fsyncs),
              static_cast<double>(appends) / static_cast<double>(fsyncs));

  // What each callback said is what a consumer reads at that offset.
  auto consumer = log->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok());
  const std::vector<Delivery> all = Drain(**consumer);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].offset, QueueOffset(i));
    ASSERT_EQ(offsets_by_body.at(all[i].record.body)[0], all[i].offset);
  }
}

// Pending frames up to 16 KiB are copied into shared 1 MiB chunks that are reused once written,
// and a larger frame gets a chunk of its own: frames on both sides of those sizes, from several
// threads, interleave in the chunks and groups, and each must come back exactly at the offset its
// callback got.
TEST_F(EmbeddedLogTest, FramesOfEverySizeAcrossChunkBoundariesReadBackExactly) {
  Limits limits = TestLimits();
  limits.record_bytes_max = 3 << 20;
  limits.segment_bytes_max = 16 << 20;
  limits.group_commit_bytes_max = 4 << 20;
  auto log = OpenOrDie(dir_.path(), limits);
  // Bodies whose frames fall either side of 16 KiB, many to a shared chunk, and now and then one
  // far beyond. Each thread appends in rounds and waits for a round's answers, so that appends
  // keep arriving in the chunks while the writer writes the frames before them.
  const std::vector<std::size_t> sizes = {100,    600, 16'000, 600, 16'500, 600, 60'000,
                                          16'000, 600, 600,    100, 600,    100};
  const auto size_of = [&](int i) {
    return i % 97 == 96 ? std::size_t{2'500'000}
                        : sizes[static_cast<std::size_t>(i) % sizes.size()];
  };
  constexpr int kThreads = 3;
  constexpr int kRound = 32;
  constexpr int kPerThread = 40 * kRound;

  std::mutex mutex;
  std::map<std::string, QueueOffset> offset_of;  // body -> the offset its callback got
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kPerThread / kRound; ++round) {
        std::vector<std::future<Result<QueueOffset>>> answers;
        std::vector<std::string> bodies;
        for (int i = round * kRound; i < (round + 1) * kRound; ++i) {
          bodies.push_back(
              Body("t" + std::to_string(t) + "-" + std::to_string(i), size_of(i + 5 * t)));
          auto promise = std::make_shared<std::promise<Result<QueueOffset>>>();
          answers.push_back(promise->get_future());
          log->Append(MakeRecord(bodies.back()),
                      [promise](Result<QueueOffset> result) { promise->set_value(result); });
        }
        for (int i = 0; i < kRound; ++i) {
          Result<QueueOffset> offset = answers[i].get();
          FH_CHECK(offset.ok(), offset.status().ToString());
          std::lock_guard lock(mutex);
          offset_of.emplace(bodies[i], *offset);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(offset_of.size(), static_cast<std::size_t>(kThreads * kPerThread));

  auto consumer = log->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok());
  std::vector<Delivery> all;
  while (all.size() < offset_of.size()) {
    auto batch = (*consumer)->Fetch(16, 64 << 20, 0ms);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    ASSERT_FALSE(batch->empty()) << "only " << all.size() << " records could be read";
    for (Delivery& delivery : *batch) all.push_back(std::move(delivery));
  }
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].offset, QueueOffset(i));
    auto found = offset_of.find(all[i].record.body);
    ASSERT_NE(found, offset_of.end()) << "offset " << i << " holds a body nobody appended";
    EXPECT_EQ(found->second, all[i].offset);
  }
}

TEST_F(EmbeddedLogTest, RestartKeepsEverythingAndConsumersResumeAfterTheirCommit) {
  {
    auto log = OpenOrDie(dir_.path());
    for (int i = 0; i < 10; ++i)
      ASSERT_TRUE(AppendSync(*log, MakeRecord("r" + std::to_string(i))).ok());
    auto lake = log->OpenConsumer("lake");
    auto ops = log->OpenConsumer("ops");
    ASSERT_TRUE(lake.ok() && ops.ok());
    EXPECT_EQ((*lake)->Fetch(10, 1 << 20, 0ms)->size(), 10u);
    ASSERT_TRUE((*lake)->Commit(QueueOffset(5)).ok());
    EXPECT_EQ((*ops)->Fetch(3, 1 << 20, 0ms)->size(), 3u);
    ASSERT_TRUE((*ops)->Commit(QueueOffset(2)).ok());
    // Fetched but not committed: delivered again after the restart.
  }
  auto log = OpenOrDie(dir_.path());
  EXPECT_EQ(log->Stats().next_offset, QueueOffset(10));
  auto lake = log->OpenConsumer("lake");
  auto ops = log->OpenConsumer("ops");
  ASSERT_TRUE(lake.ok() && ops.ok());
  EXPECT_EQ((*lake)->committed_next(), QueueOffset(6));
  EXPECT_EQ((*ops)->committed_next(), QueueOffset(3));
  EXPECT_THAT(Bodies(Drain(**lake)), ::testing::ElementsAre("r6", "r7", "r8", "r9"));
  const std::vector<Delivery> ops_records = Drain(**ops);
  ASSERT_EQ(ops_records.size(), 7u);
  EXPECT_EQ(ops_records.front().offset, QueueOffset(3));
  EXPECT_EQ(ops_records.front().record.body, "r3");
  EXPECT_EQ(*AppendSync(*log, MakeRecord("r10")), QueueOffset(10));
  EXPECT_THAT(Bodies(Drain(**lake)), ::testing::ElementsAre("r10"));
}

TEST_F(EmbeddedLogTest, RollsSegmentsAndReadsAcrossThem) {
  std::vector<std::string> written;
  {
    auto log = OpenOrDie(dir_.path());
    for (int i = 0; i < 300; ++i) {
      written.push_back(Body("r" + std::to_string(i), 700 + (i * 37) % 900));
      log->Append(MakeRecord(written.back()),
                  [](Result<QueueOffset> result) { FH_CHECK(result.ok(), "append"); });
    }
    ASSERT_TRUE(AppendSync(*log, MakeRecord("last")).ok());
    written.push_back("last");
    const std::vector<QueueOffset> bases = log->SegmentBaseOffsets();
    ASSERT_GE(bases.size(), 4u);
    for (std::size_t i = 0; i < bases.size(); ++i) {
      const fs::path path = SegmentPath(dir_.path(), bases[i].value());
      ASSERT_TRUE(fs::exists(path)) << path;
      // Only a segment's single oversized frame may push it past segment_bytes_max.
      if (i + 1 < bases.size()) {
        EXPECT_LE(fs::file_size(path), static_cast<std::uintmax_t>(64 << 10));
      }
    }
    auto consumer = log->OpenConsumer("lake");
    ASSERT_TRUE(consumer.ok());
    std::vector<std::string> read;
    while (true) {
      auto batch = (*consumer)->Fetch(7, 1 << 20, 0ms);  // small fetches cross segment ends
      ASSERT_TRUE(batch.ok()) << batch.status().ToString();
      if (batch->empty()) break;
      for (const Delivery& delivery : *batch) {
        ASSERT_EQ(delivery.offset, QueueOffset(read.size()));
        read.push_back(delivery.record.body);
      }
    }
    EXPECT_EQ(read, written);
  }
  EXPECT_EQ(ReadAllBodies(dir_.path()), written);
}

TEST_F(EmbeddedLogTest, SeekPositionsWithinLargeSegments) {
  Limits limits = TestLimits();
  limits.segment_bytes_max = 4 << 20;  // several index entries per segment
  auto log = OpenOrDie(dir_.path(), limits);
  std::vector<std::string> written;
  for (int i = 0; i < 2000; ++i) {
    written.push_back(Body("r" + std::to_string(i), 200 + (i * 13) % 1500));
    log->Append(MakeRecord(written.back()), [](Result<QueueOffset>) {});
  }
  ASSERT_TRUE(AppendSync(*log, MakeRecord("end")).ok());
  auto consumer = log->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok());
  for (std::uint64_t target : {0, 1, 97, 1000, 1999, 555, 3}) {
    ASSERT_TRUE((*consumer)->Seek(QueueOffset(target)).ok());
    EXPECT_EQ((*consumer)->committed_next(), QueueOffset(target));
    auto fetched = (*consumer)->Fetch(1, 1 << 20, 0ms);
    ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
    ASSERT_EQ(fetched->size(), 1u);
    EXPECT_EQ((*fetched)[0].offset, QueueOffset(target));
    EXPECT_EQ((*fetched)[0].record.body, written[target]);
  }
  EXPECT_EQ((*consumer)->Seek(QueueOffset(2002)).code(), StatusCode::kOutOfRange);
}

TEST_F(EmbeddedLogTest, FetchHonoursRecordAndByteLimits) {
  auto log = OpenOrDie(dir_.path());
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(AppendSync(*log, MakeRecord(Body(std::to_string(i), 1000))).ok());
  auto consumer = log->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok());
  EXPECT_EQ((*consumer)->Fetch(3, 1 << 20, 0ms)->size(), 3u);
  EXPECT_EQ((*consumer)->Fetch(100, 2500, 0ms)->size(), 2u);  // 2 x ~1.1 KB fit, 3 do not
  EXPECT_EQ((*consumer)->Fetch(100, 1, 0ms)->size(), 1u);     // always at least one
  auto rest = (*consumer)->Fetch(100, 1 << 20, 0ms);
  ASSERT_EQ(rest->size(), 4u);
  EXPECT_EQ(rest->front().offset, QueueOffset(6));
  EXPECT_EQ((*consumer)->Fetch(0, 1 << 20, 0ms)->size(), 0u);
}

TEST_F(EmbeddedLogTest, FetchWaitsForTheNextDurableRecord) {
  auto log = OpenOrDie(dir_.path());
  auto consumer = log->OpenConsumer("ops");
  ASSERT_TRUE(consumer.ok());
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE((*consumer)->Fetch(10, 1 << 20, 50ms)->empty());
  EXPECT_GE(std::chrono::steady_clock::now() - started, 50ms);

  std::thread producer([&] {
    std::this_thread::sleep_for(100ms);
    log->Append(MakeRecord("late"), [](Result<QueueOffset>) {});
  });
  started = std::chrono::steady_clock::now();
  auto fetched = (*consumer)->Fetch(10, 1 << 20, 10s);
  const auto waited = std::chrono::steady_clock::now() - started;
  producer.join();
  ASSERT_TRUE(fetched.ok());
  ASSERT_EQ(fetched->size(), 1u);
  EXPECT_EQ((*fetched)[0].record.body, "late");
  EXPECT_LT(waited, 5s);
}

TEST_F(EmbeddedLogTest, ConsumersAreIndependentAndValidated) {
  auto log = OpenOrDie(dir_.path());
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(AppendSync(*log, MakeRecord("r" + std::to_string(i))).ok());
  EXPECT_EQ(log->OpenConsumer("Lake").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->OpenConsumer("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->OpenConsumer("../x").status().code(), StatusCode::kInvalidArgument);
  auto lake = log->OpenConsumer("lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ(log->OpenConsumer("lake").status().code(), StatusCode::kFailedPrecondition);
  auto ops = log->OpenConsumer("ops");
  ASSERT_TRUE(ops.ok());

  EXPECT_EQ((*lake)->Commit(QueueOffset(0)).code(), StatusCode::kInvalidArgument);  // not delivered
  EXPECT_EQ(Drain(**lake).size(), 5u);
  ASSERT_TRUE((*lake)->Commit(QueueOffset(3)).ok());
  EXPECT_EQ((*lake)->Commit(QueueOffset(1)).code(), StatusCode::kInvalidArgument);  // backwards
  ASSERT_TRUE((*lake)->Commit(QueueOffset(3)).ok());                                // repeat: no-op
  EXPECT_EQ(Drain(**ops).size(), 5u);  // lake's progress is not ops'

  ASSERT_TRUE((*lake)->Seek(QueueOffset(1)).ok());  // replay
  EXPECT_THAT(Bodies(Drain(**lake)), ::testing::ElementsAre("r1", "r2", "r3", "r4"));
  EXPECT_EQ((*lake)->Seek(QueueOffset(6)).code(), StatusCode::kOutOfRange);

  lake->reset();  // closing the object lets the name be opened again, at its durable position
  auto again = log->OpenConsumer("lake");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->committed_next(), QueueOffset(1));
}

TEST_F(EmbeddedLogTest, OneProcessOwnsTheDirectory) {
  auto log = OpenOrDie(dir_.path());
  auto second = EmbeddedLog::Open(dir_.path(), TestLimits());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  log.reset();
  EXPECT_TRUE(EmbeddedLog::Open(dir_.path(), TestLimits()).ok());
}

TEST_F(EmbeddedLogTest, BadRecordsAndLimitsAreRefusedNotCrashed) {
  auto log = OpenOrDie(dir_.path());
  EXPECT_EQ(AppendSync(*log, MakeRecord(std::string(20 << 10, 'x'))).status().code(),
            StatusCode::kInvalidArgument);  // over record_bytes_max
  QueueRecord no_id = MakeRecord("x");
  no_id.arrival_id = ArrivalId();
  EXPECT_EQ(AppendSync(*log, std::move(no_id)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->Stats().next_offset, QueueOffset(0));

  Limits too_small = TestLimits();
  too_small.queue_bytes_max = 1 << 20;
  too_small.segment_bytes_max = 1 << 20;  // a full active segment would leave no room
  EXPECT_EQ(EmbeddedLog::Open(dir_ / "other", too_small).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(EmbeddedLogTest, InFlightLimitRefusesAtOnce) {
  Limits limits = TestLimits();
  limits.in_flight_appends_max = 16;
  auto log = OpenOrDie(dir_.path(), limits);
  std::atomic<int> refused{0};
  std::atomic<int> accepted{0};
  for (int i = 0; i < 5000; ++i) {
    log->Append(MakeRecord(Body(std::to_string(i), 500)), [&](Result<QueueOffset> result) {
      if (result.ok()) {
        ++accepted;
      } else {
        FH_CHECK(result.status().code() == StatusCode::kResourceExhausted,
                 result.status().ToString());
        FH_CHECK(result.status().message().find("in_flight_appends_max") != std::string::npos,
                 "reason");
        ++refused;
      }
    });
  }
  log->Shutdown();
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(accepted.load() + refused.load(), 5000);
  EXPECT_EQ(log->Stats().next_offset, QueueOffset(static_cast<std::uint64_t>(accepted.load())));
}

// Acknowledged groups wait for the completer in a bounded queue: with its callbacks stuck, the
// writer makes at most group_commit_completions_max more groups durable (plus the one whose
// callback runs), then waits instead of holding ever more acknowledged frames in memory.
// (group_commit_inline_us = 0: every group goes to the completer; the inline case is below.)
TEST_F(EmbeddedLogTest, StuckCallbacksStopTheWriterAfterGroupCommitCompletionsMax) {
  for (const std::int64_t groups_max : {1, 3}) {
    SCOPED_TRACE("group_commit_completions_max = " + std::to_string(groups_max));
    TempDir dir;
    Limits limits = TestLimits();
    limits.group_commit_completions_max = groups_max;
    limits.group_commit_inline_us = 0;
    auto log = OpenOrDie(dir.path(), limits);
    std::promise<void> started;
    std::promise<void> gate;
    std::shared_future<void> opened = gate.get_future().share();
    log->Append(MakeRecord("stuck"), [&](Result<QueueOffset> result) {
      FH_CHECK(result.ok(), result.status().ToString());
      started.set_value();
      opened.wait();
    });
    started.get_future().wait();
    std::atomic<int> acknowledged{0};
    constexpr int kMore = 6;
    for (int i = 0; i < kMore; ++i) {
      const QueueOffset before = log->Stats().next_offset;
      log->Append(MakeRecord("after-" + std::to_string(i)), [&](Result<QueueOffset> result) {
        FH_CHECK(result.ok(), result.status().ToString());
        ++acknowledged;
      });
      // One record per group: wait until it is durable, or clearly is not going to be.
      const auto give_up = std::chrono::steady_clock::now() + 300ms;
      while (log->Stats().next_offset == before && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(2ms);
      }
    }
    EXPECT_EQ(log->Stats().next_offset, QueueOffset(static_cast<std::uint64_t>(2 + groups_max)))
        << "the stuck group, the queued ones, and the one whose Complete waits";
    EXPECT_EQ(acknowledged.load(), 0);
    gate.set_value();
    log->Shutdown();
    EXPECT_EQ(acknowledged.load(), kMore);
    EXPECT_EQ(log->Stats().next_offset, QueueOffset(1 + kMore));
  }
}

std::string ThisThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

// The writer acknowledges a group itself when the last group's callbacks were quick and the
// completer is idle; after a slow callback the next group goes to the completer, and once that
// one was quick again the writer takes over again. Each append is its own group here.
TEST_F(EmbeddedLogTest, QuickAcknowledgementsRunOnTheWriterAndSlowOnesMoveToTheCompleter) {
  Limits limits = TestLimits();
  // Wide enough that a quick callback (a promise and a wake-up) stays under it on a loaded test
  // machine, far below the slow one's 20 ms.
  limits.group_commit_inline_us = 2000;
  auto log = OpenOrDie(dir_.path(), limits);
  const auto append = [&](const std::string& body, std::chrono::milliseconds cost) {
    std::promise<std::string> thread;
    log->Append(MakeRecord(body), [&](Result<QueueOffset> result) {
      FH_CHECK(result.ok(), result.status().ToString());
      std::this_thread::sleep_for(cost);
      thread.set_value(ThisThreadName());
    });
    return thread.get_future().get();
  };
  EXPECT_EQ(append("a", 0ms), "log-writer");
  EXPECT_EQ(append("b", 20ms), "log-writer") << "expected quick from the last group";
  EXPECT_EQ(append("c", 0ms), "log-completer") << "the last group's callback took 20 ms";
  // The completer records c's cost and goes idle right after c's callback; on a loaded machine
  // the next group may still find it busy, so allow it two tries to move back.
  std::string on;
  for (int i = 0; i < 2 && on != "log-writer"; ++i) on = append("d" + std::to_string(i), 0ms);
  EXPECT_EQ(on, "log-writer") << "quick acknowledgements did not move back to the writer";
  log->Shutdown();
}

// A stuck callback on the writer stops the writer at once: nothing more is made durable, nothing
// more acknowledged, and everything completes once the callback returns.
TEST_F(EmbeddedLogTest, AStuckCallbackOnTheWriterHoldsTheFollowingGroupsUntilItReturns) {
  auto log = OpenOrDie(dir_.path());
  std::promise<void> started;
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  std::string stuck_on;
  log->Append(MakeRecord("stuck"), [&](Result<QueueOffset> result) {
    FH_CHECK(result.ok(), result.status().ToString());
    stuck_on = ThisThreadName();
    started.set_value();
    opened.wait();
  });
  started.get_future().wait();
  EXPECT_EQ(stuck_on, "log-writer");
  std::atomic<int> acknowledged{0};
  for (int i = 0; i < 4; ++i) {
    log->Append(MakeRecord("after-" + std::to_string(i)), [&](Result<QueueOffset> result) {
      FH_CHECK(result.ok(), result.status().ToString());
      ++acknowledged;
    });
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(log->Stats().next_offset, QueueOffset(1));
  EXPECT_EQ(acknowledged.load(), 0);
  gate.set_value();
  log->Shutdown();
  EXPECT_EQ(acknowledged.load(), 4);
  EXPECT_EQ(log->Stats().next_offset, QueueOffset(5));
}

TEST_F(EmbeddedLogTest, ShutdownCompletesInFlightAppendsThenRefuses) {
  auto log = OpenOrDie(dir_.path());
  std::atomic<int> durable{0};
  for (int i = 0; i < 2000; ++i) {
    log->Append(MakeRecord(Body(std::to_string(i), 600)), [&](Result<QueueOffset> result) {
      FH_CHECK(result.ok(), result.status().ToString());
      ++durable;
    });
  }
  log->Shutdown();
  EXPECT_EQ(durable.load(), 2000);  // every accepted append finished before Shutdown returned
  bool inline_answer = false;
  log->Append(MakeRecord("after"), [&](Result<QueueOffset> result) {
    EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
    inline_answer = true;
  });
  EXPECT_TRUE(inline_answer);
  log->Shutdown();  // idempotent
  log.reset();
  EXPECT_EQ(ReadAllBodies(dir_.path()).size(), 2000u);
}

// ---- size limit and retention ----------------------------------------------------------------

TEST_F(EmbeddedLogTest, SizeLimitRefusesThenAcceptsAgainOnceConsumersCommit) {
  Limits limits = TestLimits();
  limits.queue_bytes_max = 1 << 20;
  limits.retention_s = 3600;  // only the size limit can make retention delete here
  auto log = OpenOrDie(dir_.path(), limits);
  auto lake = log->OpenConsumer("lake");
  auto ops = log->OpenConsumer("ops");
  ASSERT_TRUE(lake.ok() && ops.ok());

  int accepted = 0;
  Status refusal;
  for (int i = 0; i < 2000 && refusal.ok(); ++i) {
    auto result = AppendSync(*log, MakeRecord(Body(std::to_string(i), 4000)));
    if (result.ok())
      ++accepted;
    else
      refusal = result.status();
  }
  ASSERT_EQ(refusal.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(refusal.message(), HasSubstr("queue full"));
  EXPECT_GT(accepted, 200);
  EXPECT_TRUE(log->Full());
  EXPECT_LE(log->Stats().bytes, static_cast<std::uint64_t>(limits.queue_bytes_max));

  // Nothing is consumed yet: nothing may go, however full the log is.
  EXPECT_EQ(log->EnforceRetention(), 0u);
  EXPECT_EQ(AppendSync(*log, MakeRecord(Body("x", 4000))).status().code(),
            StatusCode::kResourceExhausted);

  // One consumer done is not enough: every cursor must have passed a segment.
  ASSERT_EQ(Drain(**lake).size(), static_cast<std::size_t>(accepted));
  ASSERT_TRUE((*lake)->Commit(QueueOffset(accepted - 1)).ok());
  EXPECT_EQ(log->EnforceRetention(), 0u);
  EXPECT_TRUE(log->Full());

  ASSERT_EQ(Drain(**ops).size(), static_cast<std::size_t>(accepted));
  ASSERT_TRUE((*ops)->Commit(QueueOffset(accepted - 1)).ok());
  // The maintenance thread is woken by the commit at the limit; wait for it rather than race
  // (it takes the segments out of the count under the log's lock and deletes their files after).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while ((log->Full() || fs::exists(SegmentPath(dir_.path(), 0))) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(log->Full());
  EXPECT_GT(log->Stats().first_offset, QueueOffset(0));
  EXPECT_FALSE(fs::exists(SegmentPath(dir_.path(), 0)));
  auto after = AppendSync(*log, MakeRecord("after"));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*after, QueueOffset(accepted));
  EXPECT_THAT(Bodies(Drain(**lake)), ::testing::ElementsAre("after"));
}

TEST_F(EmbeddedLogTest, RetentionWaitsForEveryConsumerAndForTheSegmentsAge) {
  std::atomic<std::int64_t> now_us{1'764'237'600'000'000};
  Limits limits = TestLimits();
  limits.retention_s = 60;
  auto log = OpenOrDie(dir_.path(), limits, [&] { return TimestampUs(now_us.load()); });
  auto lake = log->OpenConsumer("lake");
  auto ops = log->OpenConsumer("ops");
  ASSERT_TRUE(lake.ok() && ops.ok());
  for (int i = 0; i < 200; ++i)
    log->Append(MakeRecord(Body(std::to_string(i), 1000)), [](Result<QueueOffset>) {});
  ASSERT_TRUE(AppendSync(*log, MakeRecord("end")).ok());
  const std::size_t segments = log->SegmentBaseOffsets().size();
  ASSERT_GE(segments, 3u);

  for (auto* consumer : {lake->get(), ops->get()}) {
    const auto records = Drain(*consumer);
    ASSERT_TRUE(consumer->Commit(records.back().offset).ok());
  }
  EXPECT_EQ(log->EnforceRetention(), 0u);  // consumed, but younger than retention_s
  EXPECT_EQ(log->SegmentBaseOffsets().size(), segments);
  now_us += 61'000'000;
  log->EnforceRetention();                          // (the maintenance thread may get there first)
  EXPECT_EQ(log->SegmentBaseOffsets().size(), 1u);  // all but the active segment
  EXPECT_EQ(log->Stats().first_offset, log->SegmentBaseOffsets()[0]);

  // A consumer that has not committed holds everything after its cursor.
  auto slow = log->OpenConsumer("slow");  // starts at the oldest stored record
  ASSERT_TRUE(slow.ok());
  for (int i = 0; i < 200; ++i)
    log->Append(MakeRecord(Body(std::to_string(i), 1000)), [](Result<QueueOffset>) {});
  ASSERT_TRUE(AppendSync(*log, MakeRecord("end2")).ok());
  for (auto* consumer : {lake->get(), ops->get()}) {
    ASSERT_TRUE(consumer->Commit(Drain(*consumer).back().offset).ok());
  }
  now_us += 61'000'000;
  EXPECT_EQ(log->EnforceRetention(), 0u);
  log.reset();
  lake->reset();
  ops->reset();
  slow->reset();
  // And the survivors are readable after a restart.
  EXPECT_EQ(ReadAllBodies(dir_.path(), limits).back(), "end2");
}

TEST_F(EmbeddedLogTest, ADroppedConsumerNoLongerHoldsRetention) {
  std::atomic<std::int64_t> now_us{1'764'237'600'000'000};
  Limits limits = TestLimits();
  limits.retention_s = 60;
  auto log = OpenOrDie(dir_.path(), limits, [&] { return TimestampUs(now_us.load()); });
  auto lake = log->OpenConsumer("lake");
  ASSERT_TRUE(lake.ok());
  ASSERT_TRUE(log->OpenConsumer("ops").ok());  // opened once, then never again: a stale cursor
  for (int i = 0; i < 200; ++i)
    log->Append(MakeRecord(Body(std::to_string(i), 1000)), [](Result<QueueOffset>) {});
  ASSERT_TRUE(AppendSync(*log, MakeRecord("end")).ok());
  ASSERT_GE(log->SegmentBaseOffsets().size(), 3u);
  ASSERT_TRUE((*lake)->Commit(Drain(**lake).back().offset).ok());
  now_us += 61'000'000;
  EXPECT_EQ(log->EnforceRetention(), 0u) << "the stale ops cursor holds every segment";

  auto open_lake = log->DropConsumer("lake");
  EXPECT_EQ(open_lake.code(), StatusCode::kFailedPrecondition) << "an open consumer stays";
  ASSERT_TRUE(log->DropConsumer("ops").ok());
  EXPECT_TRUE(log->DropConsumer("ops").ok()) << "dropping what is not there is fine";
  EXPECT_FALSE(fs::exists(dir_.path() / "cursors" / "ops"));
  log->EnforceRetention();  // (the maintenance thread may get there first)
  EXPECT_EQ(log->SegmentBaseOffsets().size(), 1u);
  for (const ConsumerStats& consumer : log->Stats().consumers) EXPECT_NE(consumer.name, "ops");

  // Opened again, it starts afresh at the oldest record still stored.
  auto ops = log->OpenConsumer("ops");
  ASSERT_TRUE(ops.ok()) << ops.status().ToString();
  EXPECT_EQ((*ops)->committed_next(), log->Stats().first_offset);
}

// ---- recycled segment files --------------------------------------------------------------------

std::vector<fs::path> RecycledFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().ends_with(".log.free")) files.push_back(entry.path());
  }
  return files;
}

// No zeros ahead: in segments this small they would cover a recycled file's old frames.
Limits RecyclingLimits() {
  Limits limits = TestLimits();
  limits.retention_s = 0;
  limits.segment_recycle_max = 3;
  limits.segment_prefill_bytes = 0;
  return limits;
}

// Appends `count` records tagged `tag` and returns their bodies (all durable on return).
std::vector<std::string> AppendTagged(Queue& log, const std::string& tag, int count) {
  std::vector<std::string> bodies;
  for (int i = 0; i < count; ++i) {
    bodies.push_back(Body(tag + std::to_string(i), 700 + static_cast<std::size_t>(i % 7) * 211));
    log.Append(MakeRecord(bodies.back()), [](Result<QueueOffset> result) {
      FH_CHECK(result.ok(), result.status().ToString());
    });
  }
  FH_CHECK(AppendSync(log, MakeRecord(tag + "-end")).ok(), "append");
  bodies.push_back(tag + "-end");
  return bodies;
}

// Appends `count` records, has `consumer` read and commit them all, and retires what it read.
void AppendReadAndRetire(EmbeddedLog& log, QueueConsumer& consumer, const std::string& tag,
                         int count) {
  AppendTagged(log, tag, count);
  FH_CHECK(consumer.Commit(Drain(consumer).back().offset).ok(), "commit");
  log.EnforceRetention();  // (the maintenance thread may get there first)
}

TEST_F(EmbeddedLogTest, RetiredSegmentsAreWrittenIntoAgainAndReadBackExactly) {
  const Limits limits = RecyclingLimits();
  auto log = OpenOrDie(dir_.path(), limits);
  auto consumer = log->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok());
  const std::vector<std::string> first = AppendTagged(*log, "a", 300);
  const std::size_t retired = log->SegmentBaseOffsets().size() - 1;
  ASSERT_GE(retired, 4u);
  EXPECT_EQ(Bodies(Drain(**consumer)), first);
  ASSERT_TRUE((*consumer)->Commit(QueueOffset(first.size() - 1)).ok());
  log->EnforceRetention();  // (the maintenance thread may get there first)
  EXPECT_EQ(log->SegmentBaseOffsets().size(), 1u);
  // The three most recently retired are kept (segment_recycle_max), the others deleted.
  EXPECT_EQ(RecycledFiles(dir_.path()).size(), 3u);
  EXPECT_EQ(Metrics().GaugeFor("firehose_queue_recycled_segments").value(), 3.0);

  const std::uint64_t reused_before =
      CounterValue("firehose_queue_segments_created_total", {{"file", "recycled"}});
  const std::vector<std::string> second = AppendTagged(*log, "b", 120);
  EXPECT_EQ(CounterValue("firehose_queue_segments_created_total", {{"file", "recycled"}}) -
                reused_before,
            3u);
  EXPECT_TRUE(RecycledFiles(dir_.path()).empty());
  EXPECT_EQ(Bodies(Drain(**consumer)), second);

  // Sealed segments end at their last frame, as when their files were new.
  const std::vector<QueueOffset> bases = log->SegmentBaseOffsets();
  for (std::size_t i = 0; i + 1 < bases.size(); ++i) {
    const std::string bytes = ReadBytes(SegmentPath(dir_.path(), bases[i].value()));
    ASSERT_FALSE(FrameEnds(bytes).empty());
    EXPECT_EQ(FrameEnds(bytes).back(), bytes.size()) << "segment " << bases[i].value();
  }
  // A clean shutdown cuts the old bytes after the active segment's last frame: the next Open
  // finds no torn tail.
  consumer->reset();
  log.reset();
  const std::uint64_t torn_before =
      CounterValue("firehose_errors_total", {{"stage", "queue"}, {"kind", "torn_tail"}});
  const std::vector<std::string> all = ReadAllBodies(dir_.path(), limits);
  ASSERT_GE(all.size(), second.size());  // after the tail of `first` in the segment kept
  EXPECT_TRUE(std::equal(second.begin(), second.end(), all.end() - second.size()));
  EXPECT_EQ(CounterValue("firehose_errors_total", {{"stage", "queue"}, {"kind", "torn_tail"}}),
            torn_before);
}

TEST_F(EmbeddedLogTest, AfterACrashInARecycledFileItsOldFramesAreTheEndAndAreCut) {
  const Limits limits = RecyclingLimits();
  fs::path active;
  std::string crashed;      // the active segment as a kill -9 would have left it
  std::string old_segment;  // a sealed segment: what a recycled file holds after the header
  {
    auto log = OpenOrDie(dir_.path(), limits);
    auto consumer = log->OpenConsumer("lake");
    ASSERT_TRUE(consumer.ok());
    AppendReadAndRetire(*log, **consumer, "a", 200);
    ASSERT_FALSE(RecycledFiles(dir_.path()).empty());
    const std::uint64_t reused_before =
        CounterValue("firehose_queue_segments_created_total", {{"file", "recycled"}});
    AppendTagged(*log, "b", 60);  // rolls into a recycled file
    ASSERT_EQ(CounterValue("firehose_queue_segments_created_total", {{"file", "recycled"}}),
              reused_before + 1);
    const std::vector<QueueOffset> bases = log->SegmentBaseOffsets();
    ASSERT_GE(bases.size(), 2u);
    active = SegmentPath(dir_.path(), bases.back().value());
    crashed = ReadBytes(active);
    old_segment = ReadBytes(SegmentPath(dir_.path(), bases[bases.size() - 2].value()));
    consumer->reset();
  }
  const QueueOffset base = log_format::DecodeSegmentHeader(crashed)->base_offset;
  const std::vector<std::uint64_t> ends = FrameEnds(crashed);  // stops at the old bytes
  ASSERT_GE(ends.size(), 3u);
  ASSERT_GT(crashed.size(), ends.back() + 1000) << "the old segment's bytes follow the frames";
  const std::uint64_t torn_before =
      CounterValue("firehose_errors_total", {{"stage", "queue"}, {"kind", "torn_tail"}});

  // 1. The old bytes after the frames (mid-frame: a torn tail, cut and counted).
  WriteBytes(active, crashed);
  {
    auto log = OpenOrDie(dir_.path(), limits);
    EXPECT_EQ(log->Stats().next_offset.value(), base.value() + ends.size());
    EXPECT_EQ(fs::file_size(active), ends.back());
  }
  // 2. A crash right after the roll: the new header, then the old segment's frames from byte
  // 32. The first is valid but older than the segment: the segment is empty, not damaged.
  const std::string header = crashed.substr(0, log_format::kSegmentHeaderBytes);
  WriteBytes(active, header + old_segment.substr(log_format::kSegmentHeaderBytes));
  {
    auto log = OpenOrDie(dir_.path(), limits);
    EXPECT_EQ(log->Stats().next_offset, base);
    EXPECT_EQ(fs::file_size(active), log_format::kSegmentHeaderBytes);
  }
  // 3. The first frames durable, then an old frame where the next belongs, and further on a
  // frame of the torn group (here: the next frame's bytes): cut at the old frame, and the torn
  // frame does not outlive it.
  const std::uint64_t kept = ends[0];
  const std::string next_frame = crashed.substr(ends[0], ends[1] - ends[0]);
  WriteBytes(active, crashed.substr(0, kept) +
                         old_segment.substr(log_format::kSegmentHeaderBytes, 5000) + next_frame +
                         std::string(3000, 'x'));
  std::vector<std::string> expected;
  {
    auto log = OpenOrDie(dir_.path(), limits);
    EXPECT_EQ(log->Stats().next_offset.value(), base.value() + 1);
    EXPECT_EQ(fs::file_size(active), kept);
    expected = AppendTagged(*log, "c", 3);
  }
  EXPECT_EQ(CounterValue("firehose_errors_total", {{"stage", "queue"}, {"kind", "torn_tail"}}),
            torn_before + 1)
      << "only case 1 is a torn tail";
  std::vector<std::string> all = ReadAllBodies(dir_.path(), limits);
  ASSERT_GE(all.size(), expected.size());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), all.end() - expected.size()));
}

TEST_F(EmbeddedLogTest, RecycledFilesSurviveARestartAndGiveWayToTheSizeLimit) {
  Limits limits = RecyclingLimits();
  limits.segment_bytes_max = 400 << 10;
  {
    auto log = OpenOrDie(dir_.path(), limits);
    auto consumer = log->OpenConsumer("lake");
    ASSERT_TRUE(consumer.ok());
    AppendReadAndRetire(*log, **consumer, "a", 1500);
    ASSERT_EQ(RecycledFiles(dir_.path()).size(), 3u);
  }
  limits.segment_recycle_max = 2;  // the restart keeps what the limit allows
  {
    auto log = OpenOrDie(dir_.path(), limits);
    EXPECT_EQ(RecycledFiles(dir_.path()).size(), 2u);
    EXPECT_EQ(Metrics().GaugeFor("firehose_queue_recycled_segments").value(), 2.0);
  }
  // Kept only while they and the log fit in three quarters of queue_bytes_max: 1 MiB holds one
  // of these ~400 KiB files at most.
  limits.queue_bytes_max = 1 << 20;
  auto log = OpenOrDie(dir_.path(), limits);
  const std::vector<fs::path> kept = RecycledFiles(dir_.path());
  EXPECT_LE(kept.size(), 1u);
  std::uint64_t bytes = log->Stats().bytes;
  for (const fs::path& path : kept) bytes += fs::file_size(path);
  EXPECT_LE(bytes, 768u << 10);
}

TEST_F(EmbeddedLogTest, WithoutConsumersNothingIsEverDeleted) {
  Limits limits = TestLimits();
  limits.queue_bytes_max = 1 << 20;
  limits.retention_s = 0;
  auto log = OpenOrDie(dir_.path(), limits);
  while (AppendSync(*log, MakeRecord(Body("x", 8000))).ok()) {
  }
  EXPECT_EQ(log->EnforceRetention(), 0u);
  EXPECT_EQ(log->Stats().first_offset, QueueOffset(0));
}

// ---- I/O failures ------------------------------------------------------------------------------

TEST_F(EmbeddedLogTest, InjectedEnospcFailsOnlyThatGroupAndClearsByItself) {
  auto log = OpenOrDie(dir_.path());
  fault::SetForTest("log.write=enospc@3");
  std::vector<Result<QueueOffset>> results;
  for (int i = 1; i <= 3; ++i)
    results.push_back(AppendSync(*log, MakeRecord("r" + std::to_string(i))));
  EXPECT_TRUE(log->Full());  // the edge answers 503 at once for a moment
  for (int i = 4; i <= 5; ++i)
    results.push_back(AppendSync(*log, MakeRecord("r" + std::to_string(i))));
  ASSERT_EQ(results[2].status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(*results[0], QueueOffset(0));
  EXPECT_EQ(*results[1], QueueOffset(1));
  EXPECT_EQ(*results[3], QueueOffset(2));  // the failed record's offset was never durable
  EXPECT_EQ(*results[4], QueueOffset(3));

  auto consumer = log->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok());
  EXPECT_THAT(Bodies(Drain(**consumer)), ::testing::ElementsAre("r1", "r2", "r4", "r5"));
  consumer->reset();
  log.reset();
  EXPECT_THAT(ReadAllBodies(dir_.path()), ::testing::ElementsAre("r1", "r2", "r4", "r5"));
}

TEST_F(EmbeddedLogTest, FsyncErrorFailsThatGroupWhichIsNeverDelivered) {
  auto log = OpenOrDie(dir_.path());
  auto consumer = log->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok());
  // The fsync of record 2 fails, and so does the first attempt to cut it off: the next group
  // retries the cut before it writes.
  fault::SetForTest("log.fsync=eio@2,log.truncate=eio@1");
  std::vector<Result<QueueOffset>> results;
  for (int i = 1; i <= 4; ++i)
    results.push_back(AppendSync(*log, MakeRecord("r" + std::to_string(i))));
  EXPECT_EQ(results[1].status().code(), StatusCode::kInternal);
  EXPECT_THAT(results[1].status().message(), HasSubstr("fdatasync"));
  EXPECT_FALSE(log->Full());
  EXPECT_EQ(*results[2], QueueOffset(1));
  EXPECT_EQ(*results[3], QueueOffset(2));
  EXPECT_THAT(Bodies(Drain(**consumer)), ::testing::ElementsAre("r1", "r3", "r4"));
  consumer->reset();
  log.reset();
  fault::SetForTest("");
  EXPECT_THAT(ReadAllBodies(dir_.path()), ::testing::ElementsAre("r1", "r3", "r4"));
}

TEST_F(EmbeddedLogTest, SlowFsyncIsCountedAndItsAppendStillSucceeds) {
  auto log = OpenOrDie(dir_.path());
  const std::uint64_t slow_before = CounterValue("firehose_queue_fsync_slow_total");
  // The second group's fdatasync takes 150 ms more (over the 100 ms threshold); the others don't.
  fault::SetForTest("log.fsync=sleep150@2");
  std::vector<Result<QueueOffset>> results;
  std::vector<double> waited_ms;
  for (int i = 1; i <= 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    results.push_back(AppendSync(*log, MakeRecord("r" + std::to_string(i))));
    waited_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  fault::SetForTest("");
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status().ToString();
    EXPECT_EQ(*results[i], QueueOffset(i));
  }
  EXPECT_GE(waited_ms[1], 150.0);  // acknowledged only after its slow fdatasync
  // The slowed group is counted. A real fdatasync can pass 100 ms too on a busy disk, but only
  // one whose append waited that long: one group per append here.
  const std::uint64_t slow = CounterValue("firehose_queue_fsync_slow_total") - slow_before;
  const auto waited_long = static_cast<std::uint64_t>(
      std::count_if(waited_ms.begin(), waited_ms.end(), [](double ms) { return ms >= 100.0; }));
  EXPECT_GE(slow, 1u);
  EXPECT_LE(slow, waited_long);
}

// A roll whose directory fsync fails leaves the new segment's file in place. Small records
// that would still fit in the old segment must not go there (their offsets would pass the new
// file's base, and the next open would find the log not contiguous): the roll is retried first,
// at the same base, and replaces the file.
TEST_F(EmbeddedLogTest, AFailedRollIsRetriedBeforeAnythingMoreIsWritten) {
  const Limits limits = NoPrefillLimits();  // 64 KiB segments: ten 6 KB records fill one
  std::vector<std::string> acknowledged;
  auto log = OpenOrDie(dir_.path(), limits);
  for (int i = 0; i < 10; ++i) {
    acknowledged.push_back(Body("r" + std::to_string(i), 6000));
    ASSERT_TRUE(AppendSync(*log, MakeRecord(acknowledged.back())).ok());
  }
  ASSERT_THAT(log->SegmentBaseOffsets(), ::testing::ElementsAre(QueueOffset(0)));
  const std::uintmax_t sealed_bytes = fs::file_size(SegmentPath(dir_.path(), 0));
  const std::uint64_t roll_errors_before =
      CounterValue("firehose_errors_total", {{"kind", "roll"}});
  fault::SetForTest("file.fsync_dir=eio@1");  // the rename's directory fsync, in the roll
  const Result<QueueOffset> failed = AppendSync(*log, MakeRecord(Body("r10", 6000)));
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("fsync dir"));
  EXPECT_EQ(CounterValue("firehose_errors_total", {{"kind", "roll"}}), roll_errors_before + 1);
  ASSERT_TRUE(fs::exists(SegmentPath(dir_.path(), 10)));  // left by the failed roll
  // A crash now: the file is the log's last segment, empty, where the one before it ends.
  {
    const TempDir crashed;
    CopyLiveLog(dir_.path(), crashed.path());
    EXPECT_EQ(ReadAllBodies(crashed.path(), limits), acknowledged);
    EXPECT_EQ(OpenOrDie(crashed.path(), limits)->SegmentBaseOffsets(),
              (std::vector<QueueOffset>{QueueOffset(0), QueueOffset(10)}));
  }

  for (const std::string body : {"small 1", "small 2"}) {
    const Result<QueueOffset> appended = AppendSync(*log, MakeRecord(body));
    ASSERT_TRUE(appended.ok()) << appended.status().ToString();
    EXPECT_EQ(*appended, QueueOffset(acknowledged.size()));
    acknowledged.push_back(body);
  }
  EXPECT_EQ(log->SegmentBaseOffsets(), (std::vector<QueueOffset>{QueueOffset(0), QueueOffset(10)}));
  EXPECT_EQ(fs::file_size(SegmentPath(dir_.path(), 0)), sealed_bytes);  // nothing more went there
  const TempDir crashed;
  CopyLiveLog(dir_.path(), crashed.path());
  log.reset();
  for (const fs::path& dir : {crashed.path(), dir_.path()}) {
    EXPECT_EQ(ReadAllBodies(dir, limits), acknowledged) << dir;
    EXPECT_EQ(OpenOrDie(dir, limits)->Stats().next_offset, QueueOffset(12)) << dir;
  }
}

TEST_F(EmbeddedLogTest, UnderConcurrencyAndFaultsExactlyTheAcknowledgedAreDelivered) {
  Limits limits = TestLimits();
  auto log = OpenOrDie(dir_.path(), limits);
  fault::SetForTest("log.fsync=eio@3,log.write=enospc@5,log.fsync=eio@9,log.roll=eio@2");
  std::mutex mutex;
  std::map<std::string, QueueOffset> acknowledged;
  std::set<std::string> failed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        std::string body =
            Body("t" + std::to_string(t) + "-" + std::to_string(i), 400 + (i % 5) * 150);
        log->Append(MakeRecord(body), [&, body](Result<QueueOffset> result) {
          std::lock_guard lock(mutex);
          if (result.ok())
            acknowledged.emplace(body, *result);
          else
            failed.insert(body);
        });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  log->Shutdown();
  EXPECT_EQ(acknowledged.size() + failed.size(), 1200u);
  EXPECT_FALSE(failed.empty());

  log.reset();
  fault::SetForTest("");
  auto reopened = OpenOrDie(dir_.path(), limits);
  auto consumer = reopened->OpenConsumer("verify");
  ASSERT_TRUE(consumer.ok());
  const std::vector<Delivery> all = Drain(**consumer);
  ASSERT_EQ(all.size(), acknowledged.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].offset, QueueOffset(i));
    auto found = acknowledged.find(all[i].record.body);
    ASSERT_NE(found, acknowledged.end()) << "delivered a record that was never acknowledged";
    EXPECT_EQ(found->second, all[i].offset);
  }
}

// A real short write: the process's file size limit stops pwritev in the middle of a group.
TEST_F(EmbeddedLogTest, PartialWriteIsCutBackBeforeTheFailureIsReported) {
  auto log = OpenOrDie(dir_.path(), NoPrefillLimits());
  ASSERT_TRUE(AppendSync(*log, MakeRecord("before")).ok());
  const fs::path segment = SegmentPath(dir_.path(), 0);
  const auto durable_size = fs::file_size(segment);

  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction previous {};
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &previous), 0);
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = durable_size + 100;  // the frame's first 100 bytes get in, then EFBIG
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto cut = AppendSync(*log, MakeRecord(Body("cut", 2000)));
  const auto size_after_failure = fs::file_size(segment);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ASSERT_EQ(::sigaction(SIGXFSZ, &previous, nullptr), 0);

  EXPECT_EQ(cut.status().code(), StatusCode::kInternal) << cut.status().ToString();
  EXPECT_EQ(size_after_failure, durable_size);
  EXPECT_EQ(*AppendSync(*log, MakeRecord("after")), QueueOffset(1));
  log.reset();
  const std::uint64_t torn_before = CounterValue("firehose_errors_total", {{"kind", "torn_tail"}});
  EXPECT_THAT(ReadAllBodies(dir_.path()), ::testing::ElementsAre("before", "after"));
  EXPECT_EQ(CounterValue("firehose_errors_total", {{"kind", "torn_tail"}}), torn_before);
}

// A real full filesystem: a tmpfs of 2 MiB (needs root; skipped otherwise).
TEST_F(EmbeddedLogTest, FullFilesystemFailsAppendsAndRecoversWhenSpaceReturns) {
  const fs::path mount_point = dir_ / "tmpfs";
  fs::create_directory(mount_point);
  if (::geteuid() != 0 || ::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=2m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  }
  struct Unmount {
    fs::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  const fs::path filler = mount_point / "filler";
  WriteBytes(filler, std::string(1 << 20, 'f'));

  Limits limits = TestLimits();  // queue_bytes_max far above what the filesystem holds
  auto log = OpenOrDie(mount_point / "queue", limits);
  std::vector<std::string> acknowledged;
  Status refusal;
  for (int i = 0; i < 5000 && refusal.ok(); ++i) {
    std::string body = Body(std::to_string(i), 1000);
    auto result = AppendSync(*log, MakeRecord(body));
    if (result.ok())
      acknowledged.push_back(body);
    else
      refusal = result.status();
  }
  ASSERT_EQ(refusal.code(), StatusCode::kResourceExhausted) << refusal.ToString();
  EXPECT_TRUE(log->Full());
  EXPECT_GT(acknowledged.size(), 100u);

  fs::remove(filler);  // space returns; no restart
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (log->Full() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(log->Full());
  auto after = AppendSync(*log, MakeRecord("after"));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*after, QueueOffset(acknowledged.size()));
  acknowledged.push_back("after");
  log.reset();
  EXPECT_EQ(ReadAllBodies(mount_point / "queue", limits), acknowledged);
}

// ---- recovery ----------------------------------------------------------------------------------

// Writes `count` records one group each (so that each frame is its own group commit).
std::vector<std::string> WriteRecords(const fs::path& dir, int count,
                                      const Limits& limits = TestLimits()) {
  std::vector<std::string> bodies;
  auto log = OpenOrDie(dir, limits);
  for (int i = 0; i < count; ++i) {
    bodies.push_back(Body("r" + std::to_string(i), 100 + (i * 211) % 1800));
    FH_CHECK(AppendSync(*log, MakeRecord(bodies.back())).ok(), "append");
  }
  return bodies;
}

TEST_F(EmbeddedLogTest, TornTailAtAnyCutKeepsExactlyTheCompleteRecords) {
  const std::vector<std::string> bodies = WriteRecords(dir_.path(), 20, NoPrefillLimits());
  const std::string segment = ReadBytes(SegmentPath(dir_.path(), 0));
  const std::vector<std::uint64_t> ends = FrameEnds(segment);
  ASSERT_EQ(ends.size(), 20u);

  // Every byte of the last frame's header, every 7th of its payload, both sides of every frame
  // boundary, and a stride through the rest.
  std::set<std::uint64_t> cuts;
  for (std::uint64_t cut = ends[18]; cut < ends[18] + log_format::kFrameHeaderBytes + 2; ++cut)
    cuts.insert(cut);
  for (std::uint64_t cut = ends[18]; cut <= segment.size(); cut += 7) cuts.insert(cut);
  for (std::uint64_t cut = log_format::kSegmentHeaderBytes; cut < ends[18]; cut += 97)
    cuts.insert(cut);
  for (std::uint64_t end : ends) cuts.insert({end - 1, end, end + 1});
  const TempDir scratch_parent(/*in_memory=*/true);
  const fs::path scratch = scratch_parent / "scratch";
  std::size_t checked = 0;
  for (const std::uint64_t cut : cuts) {
    if (cut > segment.size()) continue;
    fs::remove_all(scratch);
    fs::create_directory(scratch);
    WriteBytes(SegmentPath(scratch, 0), std::string_view(segment).substr(0, cut));
    const auto complete =
        static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin());
    if (++checked % 5 == 0 || cuts.count(cut - 1) == 0) {
      const std::vector<std::string> expected(
          bodies.begin(), bodies.begin() + static_cast<std::ptrdiff_t>(complete));
      ASSERT_EQ(ReadAllBodies(scratch, NoPrefillLimits()), expected) << "cut at byte " << cut;
    } else {
      ASSERT_EQ(OpenOrDie(scratch, NoPrefillLimits())->Stats().next_offset, QueueOffset(complete))
          << "cut at byte " << cut;
    }
    const std::uint64_t kept = complete == 0 ? log_format::kSegmentHeaderBytes : ends[complete - 1];
    ASSERT_EQ(fs::file_size(SegmentPath(scratch, 0)), kept) << "cut at byte " << cut;
  }
}

TEST_F(EmbeddedLogTest, BadCrcOfTheLastFrameDropsOnlyThatFrame) {
  const std::vector<std::string> bodies = WriteRecords(dir_.path(), 10, NoPrefillLimits());
  std::string segment = ReadBytes(SegmentPath(dir_.path(), 0));
  const std::vector<std::uint64_t> ends = FrameEnds(segment);
  segment[ends[8] + 20] ^= 0x01;  // the CRC field of frame 9
  WriteBytes(SegmentPath(dir_.path(), 0), segment);
  const std::vector<std::string> expected(bodies.begin(), bodies.begin() + 9);
  EXPECT_EQ(ReadAllBodies(dir_.path(), NoPrefillLimits()), expected);
  // The truncation was made durable: the next open finds nothing to cut.
  EXPECT_EQ(fs::file_size(SegmentPath(dir_.path(), 0)), ends[8]);
}

TEST_F(EmbeddedLogTest, GarbageAfterTheLastFrameIsCut) {
  const std::vector<std::string> bodies = WriteRecords(dir_.path(), 10, NoPrefillLimits());
  const fs::path path = SegmentPath(dir_.path(), 0);
  const std::string segment = ReadBytes(path);
  std::mt19937 random(7);
  std::string garbage(3000, '\0');
  for (char& c : garbage) c = static_cast<char>(random());
  std::string zeros_then_garbage(5000, '\0');
  zeros_then_garbage[4000] = 'x';
  for (const std::string& tail : {garbage, zeros_then_garbage}) {
    WriteBytes(path, segment + tail);
    const std::uint64_t torn_before =
        CounterValue("firehose_errors_total", {{"kind", "torn_tail"}});
    EXPECT_EQ(ReadAllBodies(dir_.path(), NoPrefillLimits()), bodies);
    EXPECT_EQ(fs::file_size(path), segment.size());
    EXPECT_EQ(CounterValue("firehose_errors_total", {{"kind", "torn_tail"}}), torn_before + 1);
  }
}

// Zeros to the end of the last segment are the prefilled bytes the writer had not reached (or
// an unacknowledged group whose pages never reached the disk): the clean end, kept for writing.
TEST_F(EmbeddedLogTest, ZerosAfterTheLastFrameAreTheCleanEndAndAreWrittenOver) {
  const std::vector<std::string> bodies = WriteRecords(dir_.path(), 10, NoPrefillLimits());
  const fs::path path = SegmentPath(dir_.path(), 0);
  const std::string segment = ReadBytes(path);
  for (const std::size_t zeros : {std::size_t{3}, std::size_t{4096}, std::size_t{40000}}) {
    WriteBytes(path, segment + std::string(zeros, '\0'));
    const std::uint64_t torn_before =
        CounterValue("firehose_errors_total", {{"kind", "torn_tail"}});
    EXPECT_EQ(ReadAllBodies(dir_.path(), NoPrefillLimits()), bodies);
    EXPECT_EQ(fs::file_size(path), segment.size() + zeros) << "the zeros were cut";
    EXPECT_EQ(CounterValue("firehose_errors_total", {{"kind", "torn_tail"}}), torn_before);
  }
  {
    auto log = OpenOrDie(dir_.path(), NoPrefillLimits());
    EXPECT_EQ(*AppendSync(*log, MakeRecord("over the zeros")), QueueOffset(10));
  }
  std::vector<std::string> expected = bodies;
  expected.push_back("over the zeros");
  EXPECT_EQ(ReadAllBodies(dir_.path(), NoPrefillLimits()), expected);
  EXPECT_EQ(fs::file_size(path), segment.size() + 40000) << "written in place, not appended";
}

// With prefill, the active segment's file runs ahead of its frames with zeros, written by a
// background thread; every sealed segment ends exactly at its last frame; restarts keep all.
TEST_F(EmbeddedLogTest, PrefillRunsAheadOfTheWriterAndSealedSegmentsEndAtTheirLastFrame) {
  Limits limits = TestLimits();
  limits.segment_bytes_max = 256 << 10;
  limits.segment_prefill_bytes = 96 << 10;
  std::vector<std::string> bodies;
  for (int round = 0; round < 2; ++round) {  // the second round starts from a prefilled file
    auto log = OpenOrDie(dir_.path(), limits);
    for (int i = 0; i < 200; ++i) {
      bodies.push_back(Body("p" + std::to_string(round) + "-" + std::to_string(i), 600 + i * 7));
      ASSERT_EQ(*AppendSync(*log, MakeRecord(bodies.back())), QueueOffset(bodies.size() - 1));
    }
    const auto bases = log->SegmentBaseOffsets();
    ASSERT_GE(bases.size(), 2u);
    const fs::path active = SegmentPath(dir_.path(), bases.back().value());
    const auto frames_end = [&] { return FrameEnds(ReadBytes(active)).back(); };
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (fs::file_size(active) <= frames_end() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    EXPECT_GT(fs::file_size(active), frames_end()) << "no zeros ahead of the writer";
    EXPECT_LE(fs::file_size(active), limits.segment_bytes_max);
    for (std::size_t i = 0; i + 1 < bases.size(); ++i) {
      const fs::path sealed = SegmentPath(dir_.path(), bases[i].value());
      EXPECT_EQ(fs::file_size(sealed), FrameEnds(ReadBytes(sealed)).back()) << sealed;
    }
  }
  const std::uint64_t torn_before = CounterValue("firehose_errors_total", {{"kind", "torn_tail"}});
  EXPECT_EQ(ReadAllBodies(dir_.path(), limits), bodies);
  EXPECT_EQ(CounterValue("firehose_errors_total", {{"kind", "torn_tail"}}), torn_before);
}

// Prefill writes every byte twice (zeros, then frames): after a group of 256 KiB or more it rests
// and the writer grows the file itself; a small group starts it again.
TEST_F(EmbeddedLogTest, PrefillRestsWhileGroupsAreLargeAndResumesForSmallOnes) {
  Limits limits = TestLimits();
  limits.segment_bytes_max = 8 << 20;
  limits.record_bytes_max = 512 << 10;
  limits.segment_prefill_bytes = 1 << 20;
  auto log = OpenOrDie(dir_.path(), limits);
  const fs::path active = SegmentPath(dir_.path(), 0);
  const auto frames_end = [&] {
    const auto ends = FrameEnds(ReadBytes(active));
    return ends.empty() ? std::uint64_t{0} : ends.back();
  };
  const auto zeros_ahead = [&] { return fs::file_size(active) > frames_end(); };
  const auto wait_for_zeros = [&] {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!zeros_ahead() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    return zeros_ahead();
  };
  std::vector<std::string> bodies;
  const auto append = [&](const std::string& body) {
    bodies.push_back(body);
    return *AppendSync(*log, MakeRecord(bodies.back())) == QueueOffset(bodies.size() - 1);
  };
  ASSERT_TRUE(append(Body("small-0", 600)));
  ASSERT_TRUE(wait_for_zeros()) << "no zeros ahead of small groups";

  // 8 groups of one 300 KB record: 2.4 MB, past the 1 MiB of zeros already written.
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(append(Body("large-" + std::to_string(i), 300'000)));
  std::this_thread::sleep_for(300ms);  // time enough for a prefill thread that would write
  EXPECT_EQ(fs::file_size(active), frames_end()) << "zeros written after large groups";

  for (int i = 0; i < 5; ++i) ASSERT_TRUE(append(Body("small-" + std::to_string(i + 1), 600)));
  EXPECT_TRUE(wait_for_zeros()) << "prefill did not resume for small groups";
  log.reset();
  EXPECT_EQ(ReadAllBodies(dir_.path(), limits), bodies);
}

// A group larger than log_writeback_bytes is written in pieces, and the disk is started on each
// piece but the last (the fdatasync covers it) before the next is copied. Pieces cut frames
// anywhere: a 300 KB record in 64 KiB pieces, and groups of many records, read back intact.
// The probe at the writeback call shows where it happens: its failure fails that group only.
TEST_F(EmbeddedLogTest, LargeGroupsAreWrittenInPiecesWhoseWritebackStartsEarly) {
  Limits limits = TestLimits();
  limits.segment_bytes_max = 8 << 20;
  limits.record_bytes_max = 512 << 10;
  limits.log_writeback_bytes = 64 << 10;  // the smallest a config accepts
  {
    auto log = OpenOrDie(dir_.path(), limits);
    fault::SetForTest("log.writeback=eio@1");
    const Result<QueueOffset> failed = AppendSync(*log, MakeRecord(Body("large-0", 300'000)));
    ASSERT_FALSE(failed.ok());
    EXPECT_THAT(failed.status().message(), HasSubstr("sync_file_range"));
    ASSERT_EQ(*AppendSync(*log, MakeRecord(Body("large-1", 300'000))), QueueOffset(0));
    ASSERT_EQ(*AppendSync(*log, MakeRecord(Body("small-0", 600))), QueueOffset(1));
  }
  // Many appends in flight at once: groups of up to 1 MiB of 7 KB records, cut by the pieces.
  // The first group's fdatasync is held for 300 ms so that the other 399 appends queue up behind
  // it, however fast this build appends (a sanitizer build is slow enough for the writer to
  // keep up with one record at a time otherwise). The records are built before the first append,
  // so that only the appends themselves fall inside those 300 ms (building them there too let a
  // loaded ASan run spill past the hold: 57 groups).
  std::vector<std::string> bodies = {Body("large-1", 300'000), Body("small-0", 600)};
  {
    auto log = OpenOrDie(dir_.path(), limits);
    std::vector<QueueRecord> records;
    for (int i = 0; i < 400; ++i) {
      bodies.push_back(Body("many-" + std::to_string(i), 7'000));
      records.push_back(MakeRecord(bodies.back()));
    }
    const std::uint64_t fsyncs_before = CounterValue("firehose_queue_fsyncs_total");
    fault::SetForTest("log.fsync=sleep300@1");
    std::mutex mutex;
    std::condition_variable done_cv;
    std::size_t done = 0;
    std::vector<Result<QueueOffset>> results(records.size(), Internal("not answered"));
    for (std::size_t i = 0; i < results.size(); ++i) {
      log->Append(std::move(records[i]), [&, i](Result<QueueOffset> result) {
        std::lock_guard lock(mutex);
        results[i] = std::move(result);
        ++done;
        done_cv.notify_all();
      });
    }
    std::unique_lock lock(mutex);
    done_cv.wait(lock, [&] { return done == results.size(); });
    for (std::size_t i = 0; i < results.size(); ++i) {
      ASSERT_TRUE(results[i].ok()) << results[i].status().ToString();
      EXPECT_EQ(*results[i], QueueOffset(i + 2));
    }
    // 1 + ceil(399 x ~7 KB / 1 MiB) groups: the pieces cut through groups of frames.
    EXPECT_LE(CounterValue("firehose_queue_fsyncs_total") - fsyncs_before, 6u);
    fault::SetForTest("");
  }
  EXPECT_EQ(ReadAllBodies(dir_.path(), limits), bodies);

  // Without pieces the probe is never reached: the same large append succeeds.
  fault::SetForTest("log.writeback=eio");
  limits.log_writeback_bytes = 0;
  auto log = OpenOrDie(dir_.path(), limits);
  EXPECT_EQ(*AppendSync(*log, MakeRecord(Body("large-2", 300'000))), QueueOffset(402));
}

// The log's threads carry names (top -H, perf, gdb): an operator can tell the writer from the rest.
TEST_F(EmbeddedLogTest, ItsThreadsAreNamed) {
  const auto thread_names = [] {
    std::multiset<std::string> names;
    for (const auto& task : fs::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      names.insert(name);
    }
    return names;
  };
  Limits limits = TestLimits();
  limits.segment_prefill_bytes = 1 << 20;
  auto log = OpenOrDie(dir_.path(), limits);
  const std::multiset<std::string> names = thread_names();
  for (const char* name : {"log-writer", "log-completer", "log-maintain", "log-prefill"})
    EXPECT_EQ(names.count(name), 1u) << name;
  log.reset();
  EXPECT_EQ(thread_names().count("log-writer"), 0u);  // joined on close
}

// How many pages of [from, end) of `path` are in the page cache, as (resident, total).
std::pair<std::size_t, std::size_t> ResidentPages(const fs::path& path, std::uint64_t from,
                                                  std::uint64_t end) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  FH_CHECK(fd >= 0, "open");
  const std::size_t size = fs::file_size(path);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);  // maps, touches nothing
  ::close(fd);
  FH_CHECK(map != MAP_FAILED, "mmap");
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  FH_CHECK(::mincore(map, size, resident.data()) == 0, "mincore");
  ::munmap(map, size);
  std::pair<std::size_t, std::size_t> counts{0, 0};
  for (std::uint64_t i = from / page; i < std::min<std::uint64_t>(resident.size(), end / page);
       ++i) {
    counts.first += resident[i] & 1;
    ++counts.second;
  }
  return counts;
}

// The log leaves only its most recent log_page_cache_bytes in the page cache: a log's bytes are
// read once, right behind the writer, and the pages it frees are the ones it writes next.
TEST_F(EmbeddedLogTest, DurableBytesOlderThanThePageCacheLimitAreDroppedFromTheCache) {
  struct statfs filesystem {};
  ASSERT_EQ(::statfs(dir_.path().c_str(), &filesystem), 0);
  if (filesystem.f_type == TMPFS_MAGIC) {
    GTEST_SKIP() << "tmpfs keeps its pages: the page cache is its storage";
  }
  for (const std::int64_t keep : {std::int64_t{2} << 20, std::int64_t{0}}) {
    SCOPED_TRACE("log_page_cache_bytes = " + std::to_string(keep));
    TempDir dir;
    Limits limits = TestLimits();
    limits.segment_bytes_max = 64 << 20;
    limits.record_bytes_max = 512 << 10;
    limits.log_page_cache_bytes = keep;
    limits.segment_prefill_bytes = 0;  // the file ends at its last frame
    std::vector<std::string> bodies;
    {
      auto log = OpenOrDie(dir.path(), limits);
      for (int i = 0; i < 60; ++i) {  // 60 groups of 300 KB: 18 MB
        bodies.push_back(Body("c" + std::to_string(i), 300'000));
        ASSERT_EQ(*AppendSync(*log, MakeRecord(bodies.back())), QueueOffset(i));
      }
      const fs::path segment = SegmentPath(dir.path(), 0);
      const std::uint64_t end = fs::file_size(segment);  // no prefill: the last frame's end
      // The first 10 MB, well behind the 2 MiB kept plus one 4 MiB drop step, are gone with the
      // limit and all cached without it; the newest MiB is cached either way.
      const auto old = ResidentPages(segment, 0, 10'000'000);
      const auto recent = ResidentPages(segment, end - (1 << 20), end);
      if (keep > 0) {
        EXPECT_EQ(old.first, 0u) << old.first << " of " << old.second << " old pages cached";
      } else {
        // The kernel may reclaim a few pages on its own (this VM runs a DAMON pageout scheme:
        // 4 of 2441 once, in CI): without the limit nearly all stay, with it none do.
        EXPECT_GE(old.first, old.second * 9 / 10)
            << old.first << " of " << old.second << " old pages cached without a limit";
      }
      EXPECT_GT(recent.first, recent.second / 2);
    }
    EXPECT_EQ(ReadAllBodies(dir.path(), limits), bodies);  // from the disk, whole
  }
}

// A failing prefill (here injected; a full disk in practice) is counted and costs no append.
TEST_F(EmbeddedLogTest, FailingPrefillIsCountedAndAppendsGoOn) {
  Limits limits = TestLimits();
  limits.segment_bytes_max = 1 << 20;
  const std::uint64_t failures_before =
      CounterValue("firehose_errors_total", {{"kind", "prefill"}});
  fault::SetForTest("log.prefill=enospc");
  std::vector<std::string> bodies;
  {
    auto log = OpenOrDie(dir_.path(), limits);
    for (int i = 0; i < 50; ++i) {
      bodies.push_back(Body("f" + std::to_string(i), 900));
      ASSERT_EQ(*AppendSync(*log, MakeRecord(bodies.back())), QueueOffset(i));
    }
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (CounterValue("firehose_errors_total", {{"kind", "prefill"}}) == failures_before &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
  }
  EXPECT_GT(CounterValue("firehose_errors_total", {{"kind", "prefill"}}), failures_before);
  const fs::path path = SegmentPath(dir_.path(), 0);
  EXPECT_EQ(fs::file_size(path), FrameEnds(ReadBytes(path)).back()) << "zeros despite the fault";
  fault::SetForTest("");
  EXPECT_EQ(ReadAllBodies(dir_.path(), limits), bodies);
}

TEST_F(EmbeddedLogTest, CorruptFrameBeforeValidOnesIsDataLossNamingThePlace) {
  WriteRecords(dir_.path(), 20);
  const fs::path path = SegmentPath(dir_.path(), 0);
  std::string segment = ReadBytes(path);
  const std::vector<std::uint64_t> ends = FrameEnds(segment);
  const std::uint64_t frame_start = ends[4];  // frame 5
  segment[frame_start + 40] ^= 0x20;          // a payload byte
  WriteBytes(path, segment);
  auto log = EmbeddedLog::Open(dir_.path(), TestLimits());
  ASSERT_EQ(log.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(log.status().message(), HasSubstr(path.filename().string()));
  EXPECT_THAT(log.status().message(), HasSubstr("byte " + std::to_string(frame_start)));
  EXPECT_EQ(fs::file_size(path), segment.size());  // nothing was cut
}

TEST_F(EmbeddedLogTest, CorruptFrameInASealedSegmentIsDataLoss) {
  WriteRecords(dir_.path(), 150);
  auto bases = [&] {
    auto log = OpenOrDie(dir_.path());
    return log->SegmentBaseOffsets();
  }();
  ASSERT_GE(bases.size(), 2u);
  const fs::path sealed = SegmentPath(dir_.path(), bases[0].value());
  std::string segment = ReadBytes(sealed);
  segment[segment.size() - 5] ^= 0x10;  // inside its very last frame
  WriteBytes(sealed, segment);
  auto log = EmbeddedLog::Open(dir_.path(), TestLimits());
  ASSERT_EQ(log.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(log.status().message(), HasSubstr("sealed"));
  EXPECT_THAT(log.status().message(), HasSubstr(sealed.filename().string()));
}

TEST_F(EmbeddedLogTest, MissingSegmentOrDamagedHeaderIsDataLoss) {
  WriteRecords(dir_.path(), 200);
  auto bases = [&] { return OpenOrDie(dir_.path())->SegmentBaseOffsets(); }();
  ASSERT_GE(bases.size(), 3u);
  {
    TempDir copy;
    fs::copy(dir_.path(), copy.path(), fs::copy_options::recursive);
    fs::remove(copy.path() / "LOCK");
    fs::remove(SegmentPath(copy.path(), bases[1].value()));
    auto log = EmbeddedLog::Open(copy.path(), TestLimits());
    ASSERT_EQ(log.status().code(), StatusCode::kDataLoss);
    EXPECT_THAT(log.status().message(), HasSubstr("not contiguous"));
  }
  const fs::path last = SegmentPath(dir_.path(), bases.back().value());
  std::string segment = ReadBytes(last);
  segment[9] ^= 0x01;  // the base offset in the header
  WriteBytes(last, segment);
  EXPECT_EQ(EmbeddedLog::Open(dir_.path(), TestLimits()).status().code(), StatusCode::kDataLoss);
}

// Hand-built segments: frames 0 and 1 are each their own group; 2, 3, 4 form the last group.
std::string BuildSegment(const std::vector<std::string>& payloads,
                         const std::vector<std::uint32_t>& group_index,
                         std::vector<std::uint64_t>* starts) {
  std::string segment = log_format::EncodeSegmentHeader({QueueOffset(0), TimestampUs(0)});
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    starts->push_back(segment.size());
    std::string frame(log_format::kFrameHeaderBytes, '\0');
    log_format::EncodeFrameHeader(static_cast<std::uint32_t>(payloads[i].size()), QueueOffset(i),
                                  group_index[i], crc32c::Value(payloads[i]), frame.data());
    segment += frame + payloads[i];
  }
  return segment;
}

TEST_F(EmbeddedLogTest, DamageInsideTheLastGroupIsATornWriteButNotBeforeIt) {
  std::vector<std::string> payloads;
  std::vector<std::string> bodies;
  for (int i = 0; i < 5; ++i) {
    bodies.push_back("r" + std::to_string(i));
    std::string payload;
    EncodeRecord(MakeRecord(bodies.back()), &payload);
    payloads.push_back(payload);
  }
  std::vector<std::uint64_t> starts;
  const std::string segment = BuildSegment(payloads, {0, 0, 0, 1, 2}, &starts);

  // Frame 3 lost after a power cut, frame 4 of the same (never acknowledged) group survived.
  std::string torn = segment;
  torn[starts[3] + 30] ^= 0x01;
  WriteBytes(SegmentPath(dir_.path(), 0), torn);
  EXPECT_THAT(ReadAllBodies(dir_.path()), ::testing::ElementsAre("r0", "r1", "r2"));

  // Frame 1 damaged, followed by the later group 2..4: frame 1 was acknowledged.
  std::string damaged = segment;
  damaged[starts[1] + 30] ^= 0x01;
  WriteBytes(SegmentPath(dir_.path(), 0), damaged);
  auto log = EmbeddedLog::Open(dir_.path(), TestLimits());
  ASSERT_EQ(log.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(log.status().message(), HasSubstr("later group commit"));
}

// record_bytes_max bounds appends only: after it is lowered, records stored under the old limit
// are read like any other. Before, recovery took a frame longer than the new limit for damage:
// as the last frame it was cut as a torn tail (an acknowledged record lost, its offset given
// again), before later frames the log refused to open. Both layouts are checked: one segment
// holding all four records (a large record before others, and one last), and small segments
// (a large record ending a sealed segment, and one alone in the last).
TEST_F(EmbeddedLogTest, LoweringRecordBytesMaxKeepsTheLargerRecordsStoredUnderTheOldLimit) {
  const std::vector<std::string> bodies = {"small a", Body("large 1", 600'000), "small b",
                                           Body("large 2", 900'000)};
  for (const std::int64_t segment_bytes_max : {std::int64_t{64} << 10, std::int64_t{16} << 20}) {
    SCOPED_TRACE("segment_bytes_max " + std::to_string(segment_bytes_max));
    Limits before = NoPrefillLimits();
    before.segment_bytes_max = segment_bytes_max;
    before.record_bytes_max = 1 << 20;
    Limits after = before;
    after.record_bytes_max = 16 << 10;  // under both large records
    const TempDir live;
    const TempDir crashed;
    auto writing = OpenOrDie(live.path(), before);
    for (const std::string& body : bodies) ASSERT_TRUE(AppendSync(*writing, MakeRecord(body)).ok());
    const std::vector<QueueOffset> bases = writing->SegmentBaseOffsets();
    ASSERT_EQ(bases.size(), segment_bytes_max == (64 << 10) ? 4u : 1u);  // small: one each
    CopyLiveLog(live.path(), crashed.path());
    writing.reset();
    std::map<std::uint64_t, std::uintmax_t> sizes;
    for (const QueueOffset base : bases)
      sizes[base.value()] = fs::file_size(SegmentPath(crashed.path(), base.value()));

    for (const fs::path& dir : {crashed.path(), live.path()}) {
      const std::uint64_t torn_before =
          CounterValue("firehose_errors_total", {{"kind", "torn_tail"}});
      EXPECT_EQ(ReadAllBodies(dir, after), bodies) << dir;
      EXPECT_EQ(CounterValue("firehose_errors_total", {{"kind", "torn_tail"}}), torn_before);
      for (const auto& [base, size] : sizes)
        EXPECT_EQ(fs::file_size(SegmentPath(dir, base)), size) << "segment " << base;
    }
    // The new limit holds for appends, and offsets go on after the large records.
    auto reopened = OpenOrDie(crashed.path(), after);
    EXPECT_EQ(AppendSync(*reopened, MakeRecord(Body("large 3", 20'000))).status().code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(*AppendSync(*reopened, MakeRecord("small c")), QueueOffset(4));
    reopened.reset();

    // A large record torn by the crash is still a torn tail: cut, and counted.
    const fs::path last = SegmentPath(live.path(), bases.back().value());
    const std::string segment = ReadBytes(last);
    const std::vector<std::uint64_t> ends = FrameEnds(segment);
    const std::uint64_t large_2_start =
        ends.size() >= 2 ? ends[ends.size() - 2] : log_format::kSegmentHeaderBytes;
    WriteBytes(last, std::string_view(segment).substr(0, segment.size() - 1000));
    const std::uint64_t torn_before =
        CounterValue("firehose_errors_total", {{"kind", "torn_tail"}});
    EXPECT_EQ(ReadAllBodies(live.path(), after),
              std::vector<std::string>(bodies.begin(), bodies.end() - 1));
    EXPECT_EQ(CounterValue("firehose_errors_total", {{"kind", "torn_tail"}}), torn_before + 1);
    EXPECT_EQ(fs::file_size(last), large_2_start);
  }
}

// A segment starting at `base` holding `bodies`, one group commit each.
std::string SegmentHolding(std::uint64_t base, const std::vector<std::string>& bodies) {
  std::string segment = log_format::EncodeSegmentHeader({QueueOffset(base), TimestampUs(0)});
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    std::string payload;
    EncodeRecord(MakeRecord(bodies[i]), &payload);
    std::string frame(log_format::kFrameHeaderBytes, '\0');
    log_format::EncodeFrameHeader(static_cast<std::uint32_t>(payload.size()), QueueOffset(base + i),
                                  0, crc32c::Value(payload), frame.data());
    segment += frame + payload;
  }
  return segment;
}

std::vector<std::string> Tags(int first, int end) {
  std::vector<std::string> tags;
  for (int i = first; i < end; ++i) tags.push_back("r" + std::to_string(i));
  return tags;
}

// Logs left by a roll that failed before rolls were retried: the new segment's file stayed,
// holding no frames, and the old segment went on to hold the offset it is named for. Such a
// file is removed at open, and nothing else: a file with frames of its own, or one that starts
// where the segment before it ends, or after it, is not a leftover.
TEST_F(EmbeddedLogTest, LeftoversOfAFailedRollAreRemovedAndNothingElseIs) {
  const std::string stale_10 = log_format::EncodeSegmentHeader({QueueOffset(10), TimestampUs(0)});
  const std::string segment_0 = SegmentHolding(0, Tags(0, 12));
  struct Layout {
    std::string name;
    std::map<std::uint64_t, std::string> files;  // base -> bytes
    std::vector<std::string> bodies;             // what the log holds after the open
    std::vector<std::uint64_t> bases;            // the segments that remain
  };
  const std::vector<Layout> layouts = {
      // The last file; the segment before it is then the last one, and its torn tail is cut.
      {"trailing", {{0, segment_0 + "torn"}, {10, stale_10}}, Tags(0, 12), {0}},
      // Two failed rolls, one over a recycled file (its old frames, of lower offsets, follow the
      // header), the other over zeros.
      {"trailing two",
       {{0, segment_0},
        {10, stale_10 + segment_0.substr(log_format::kSegmentHeaderBytes)},
        {11, log_format::EncodeSegmentHeader({QueueOffset(11), TimestampUs(0)}) +
                 std::string(4096, '\0')}},
       Tags(0, 12),
       {0}},
      // A later roll succeeded.
      {"between",
       {{0, segment_0}, {10, stale_10}, {12, SegmentHolding(12, Tags(12, 14))}},
       Tags(0, 14),
       {0, 12}},
      // An empty last segment where the one before ends: a roll, then a crash. Kept.
      {"empty last",
       {{0, segment_0}, {12, log_format::EncodeSegmentHeader({QueueOffset(12), TimestampUs(0)})}},
       Tags(0, 12),
       {0, 12}},
  };
  for (const Layout& layout : layouts) {
    SCOPED_TRACE(layout.name);
    const TempDir dir(/*in_memory=*/true);
    for (const auto& [base, bytes] : layout.files) WriteBytes(SegmentPath(dir.path(), base), bytes);
    EXPECT_EQ(ReadAllBodies(dir.path(), NoPrefillLimits()), layout.bodies);
    std::vector<std::uint64_t> bases;
    for (const auto& [base, bytes] : layout.files) {
      if (fs::exists(SegmentPath(dir.path(), base))) bases.push_back(base);
    }
    EXPECT_EQ(bases, layout.bases);
    auto log = OpenOrDie(dir.path(), NoPrefillLimits());
    EXPECT_EQ(*AppendSync(*log, MakeRecord("next")), QueueOffset(layout.bodies.size()));
  }

  const std::vector<std::pair<std::string, std::map<std::uint64_t, std::string>>> refused = {
      // Frames of its own, of offsets the segment before holds too.
      {"overlapping", {{0, segment_0}, {10, SegmentHolding(10, {"x10"})}}},
      // Starting past the end of the segment before: records are missing.
      {"gap",
       {{0, segment_0}, {20, log_format::EncodeSegmentHeader({QueueOffset(20), TimestampUs(0)})}}},
      // Something other than zeros or frames after its header.
      {"garbage", {{0, segment_0}, {10, stale_10 + "garbage"}}},
  };
  for (const auto& [name, files] : refused) {
    SCOPED_TRACE(name);
    const TempDir dir(/*in_memory=*/true);
    for (const auto& [base, bytes] : files) WriteBytes(SegmentPath(dir.path(), base), bytes);
    const auto log = EmbeddedLog::Open(dir.path(), NoPrefillLimits());
    ASSERT_EQ(log.status().code(), StatusCode::kDataLoss);
    EXPECT_THAT(log.status().message(), HasSubstr("not contiguous"));
    for (const auto& [base, bytes] : files) {
      EXPECT_EQ(ReadBytes(SegmentPath(dir.path(), base)), bytes);  // nothing removed or cut
    }
  }
}

TEST_F(EmbeddedLogTest, UnreadableCursorBlocksOnlyItsConsumer) {
  WriteRecords(dir_.path(), 3);
  {
    auto log = OpenOrDie(dir_.path());
    ASSERT_TRUE(log->OpenConsumer("lake").ok());
  }
  WriteBytes(dir_ / "cursors/lake", "garbage");
  auto log = OpenOrDie(dir_.path());
  EXPECT_EQ(log->OpenConsumer("lake").status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(AppendSync(*log, MakeRecord("still ingesting")).ok());
}

// ---- kill -9 -----------------------------------------------------------------------------------

struct Ack {
  std::uint64_t offset;
  std::uint64_t hash;
};

// Reported by a following child instead of an acknowledgement: how many segments it created in
// recycled files so far (in `hash`).
constexpr std::uint64_t kReusedReport = std::numeric_limits<std::uint64_t>::max();

// With `recycle`, in odd rounds without zeros ahead: in segments this small they soon cover a
// recycled file's old frames, which recovery must meet (the odd rounds).
Limits CrashTestLimits(bool recycle, int round = 0) {
  Limits limits = TestLimits();
  limits.queue_bytes_max = 1LL << 30;
  if (recycle) {
    limits.retention_s = 0;
    limits.segment_recycle_max = 4;
    if (round % 2 == 1) limits.segment_prefill_bytes = 0;
  }
  return limits;
}

// The child: appends from several threads, with a window of outstanding appends each, and
// reports every acknowledged (offset, hash of body) on `report_fd`. With `follow`, a consumer
// reads right behind, commits and retires what it read (retention_s = 0), so that segments are
// written into recycled files. Never returns.
[[noreturn]] void RunAppender(const fs::path& dir, int report_fd, int round,
                              const std::string& faults, bool follow = false) {
  fault::SetForTest(faults);
  auto log = EmbeddedLog::Open(dir, CrashTestLimits(follow, round));
  if (!log.ok()) {
    std::fprintf(stderr, "child: %s\n", log.status().ToString().c_str());
    _exit(3);
  }
  std::vector<std::thread> threads;
  if (follow) {
    threads.emplace_back([&] {
      auto consumer = (*log)->OpenConsumer("follower");
      FH_CHECK(consumer.ok(), consumer.status().ToString());
      while (true) {
        auto batch = (*consumer)->Fetch(500, 1 << 20, 50ms);
        FH_CHECK(batch.ok(), batch.status().ToString());
        if (batch->empty()) continue;
        FH_CHECK((*consumer)->Commit(batch->back().offset).ok(), "commit");
        (*log)->EnforceRetention();
        const Ack report{kReusedReport,
                         CounterValue("firehose_queue_segments_created_total",
                                      {{"file", "recycled"}})};
        FH_CHECK(::write(report_fd, &report, sizeof report) == sizeof report, "report");
      }
    });
  }
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(round * 100 + t));
      std::mutex mutex;
      std::condition_variable window;
      int outstanding = 0;
      for (std::uint64_t i = 0;; ++i) {
        std::string body = Body(
            "round" + std::to_string(round) + "-t" + std::to_string(t) + "-" + std::to_string(i),
            50 + random() % 3000);
        const std::uint64_t hash = std::hash<std::string>{}(body);
        {
          std::unique_lock lock(mutex);
          window.wait(lock, [&] { return outstanding < 32; });
          ++outstanding;
        }
        (*log)->Append(MakeRecord(std::move(body)), [&, hash](Result<QueueOffset> result) {
          if (result.ok()) {
            const Ack ack{result->value(), hash};
            FH_CHECK(::write(report_fd, &ack, sizeof ack) == sizeof ack, "report");
          }
          std::lock_guard lock(mutex);
          --outstanding;
          window.notify_one();
        });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  _exit(0);
}

// One life of the child: runs it with `faults` for `run_for` (or until a crash probe ends it),
// SIGKILLs it if it is still running, adds what it acknowledged to `acknowledged` (offset ->
// hash of body; an offset acknowledged twice with other bytes fails), and returns how many
// segments it created in recycled files.
std::uint64_t RunChildLife(const fs::path& dir, int round, const std::string& faults, bool follow,
                           std::chrono::milliseconds run_for,
                           std::map<std::uint64_t, std::uint64_t>* acknowledged) {
  std::vector<Ack> acks;
  int pipe_fds[2];
  EXPECT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  EXPECT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    RunAppender(dir, pipe_fds[1], round, faults, follow);
  }
  ::close(pipe_fds[1]);
  std::thread reader([&] {
    Ack ack{};
    while (::read(pipe_fds[0], &ack, sizeof ack) == static_cast<ssize_t>(sizeof ack))
      acks.push_back(ack);
  });
  const auto deadline = std::chrono::steady_clock::now() + run_for;
  int status = 0;
  pid_t waited = 0;
  while ((waited = ::waitpid(child, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  if (waited == 0) {
    ::kill(child, SIGKILL);
    EXPECT_EQ(::waitpid(child, &status, 0), child);
  }
  reader.join();
  ::close(pipe_fds[0]);
  if (!faults.empty()) {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 137) << "the crash probe did not fire";
  } else {
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  std::uint64_t reused = 0;
  for (const Ack& ack : acks) {
    if (ack.offset == kReusedReport) {
      reused = std::max(reused, ack.hash);
      continue;
    }
    auto [it, inserted] = acknowledged->emplace(ack.offset, ack.hash);
    EXPECT_TRUE(inserted || it->second == ack.hash)
        << "offset " << ack.offset << " acknowledged twice";
  }
  return reused;
}

// Reads the log from `consumer`'s position `first` on: offsets contiguous, every acknowledged
// offset from `first` on present with the bytes that were acknowledged.
void ExpectAcknowledgedFrom(QueueConsumer& consumer, QueueOffset first,
                            const std::map<std::uint64_t, std::uint64_t>& acknowledged) {
  std::uint64_t next = first.value();
  while (true) {
    auto batch = consumer.Fetch(10000, 64 << 20, 0ms);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    if (batch->empty()) break;
    for (const Delivery& delivery : *batch) {
      ASSERT_EQ(delivery.offset.value(), next) << "offsets are not contiguous";
      ++next;
      auto found = acknowledged.find(delivery.offset.value());
      if (found == acknowledged.end()) continue;  // written but never acknowledged: allowed
      ASSERT_EQ(found->second, std::hash<std::string>{}(delivery.record.body))
          << "offset " << delivery.offset.value() << " holds other bytes than were acknowledged";
    }
  }
  for (auto it = acknowledged.lower_bound(first.value()); it != acknowledged.end(); ++it) {
    ASSERT_LT(it->first, next) << "acknowledged offset " << it->first << " is missing (the log "
                               << "ends at " << next << ")";
  }
}

TEST(EmbeddedLogCrash, KillDashNineNeverLosesAnAcknowledgedRecord) {
  TempDir dir;
  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  std::mt19937 random(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::map<std::uint64_t, std::uint64_t> acknowledged;  // offset -> hash of body
  // Random SIGKILLs, then crashes at exact points: before a group's write, between its write
  // and its fsync, and in the middle of a roll.
  const std::vector<std::string> rounds = {
      "", "", "", "", "log.write=crash@40", "log.fsync=crash@25", "log.roll=crash@2"};
  for (std::size_t round = 0; round < rounds.size(); ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + " faults '" + rounds[round] + "'");
    const auto run_for =
        rounds[round].empty() ? std::chrono::milliseconds(80 + random() % 250) : 5000ms;
    RunChildLife(dir.path(), static_cast<int>(round), rounds[round], /*follow=*/false, run_for,
                 &acknowledged);
    ASSERT_FALSE(::testing::Test::HasFailure());

    auto log = EmbeddedLog::Open(dir.path(), TestLimits());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    auto consumer = (*log)->OpenConsumer("verify");
    ASSERT_TRUE(consumer.ok());
    ASSERT_TRUE((*consumer)->Seek(QueueOffset(0)).ok());
    ExpectAcknowledgedFrom(**consumer, QueueOffset(0), acknowledged);
    ASSERT_FALSE(::testing::Test::HasFailure());
  }
  EXPECT_GT(acknowledged.size(), 1000u);
}

// As above while a consumer follows and every segment it has read is retired: most segments
// are written into recycled files, whose old frames follow the new ones. Every acknowledged
// record the consumer had not committed is there after each kill, and the log opens.
TEST(EmbeddedLogCrash, KillDashNineWhileSegmentsAreRecycledNeverLosesAnAcknowledgedRecord) {
  TempDir dir;
  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  std::mt19937 random(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const Limits limits = CrashTestLimits(/*recycle=*/true);
  std::map<std::uint64_t, std::uint64_t> acknowledged;  // offset -> hash of body
  std::uint64_t reused = 0;
  // Random SIGKILLs, then crashes inside a roll into a recycled file (after the new header is
  // durable, before the rename), and between a group's write and its fsync.
  const std::vector<std::string> rounds = {
      "", "", "", "", "log.reuse=crash@3", "log.fsync=crash@60"};
  for (std::size_t round = 0; round < rounds.size(); ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + " faults '" + rounds[round] + "'");
    const auto run_for =
        rounds[round].empty() ? std::chrono::milliseconds(150 + random() % 350) : 8000ms;
    reused += RunChildLife(dir.path(), static_cast<int>(round), rounds[round], /*follow=*/true,
                           run_for, &acknowledged);
    ASSERT_FALSE(::testing::Test::HasFailure());

    auto log = EmbeddedLog::Open(dir.path(), limits);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    // A new consumer starts at the oldest record stored, and holds retention there.
    auto consumer = (*log)->OpenConsumer("verify");
    ASSERT_TRUE(consumer.ok());
    const QueueOffset first = (*consumer)->committed_next();
    std::uint64_t committed = 0;
    for (const ConsumerStats& stats : (*log)->Stats().consumers) {
      if (stats.name == "follower") committed = stats.committed_next.value();
    }
    EXPECT_LE(first.value(), committed) << "retention went past the follower's commit";
    ExpectAcknowledgedFrom(**consumer, first, acknowledged);
    ASSERT_FALSE(::testing::Test::HasFailure());
    consumer->reset();
    ASSERT_TRUE((*log)->DropConsumer("verify").ok());  // it would hold retention back
  }
  EXPECT_GT(acknowledged.size(), 1000u);
  EXPECT_GT(reused, 10u) << "segments were not written into recycled files";
}

}  // namespace
}  // namespace firehose
