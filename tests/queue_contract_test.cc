// The Queue / QueueConsumer contract (queue/queue.h), one suite run against both backends: the
// embedded log in a temp directory and NATS JetStream on a real nats-server (started here on
// loopback, JetStream on, storage in a temp directory). What a producer and a consumer rely on
// must hold on both; backend-only behaviour (torn tails, replication) is tested elsewhere.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <set>
#include <memory>
#include <string>
#include <thread>

#include "core/arrival_id.h"
#include "core/config.h"
#include "queue/embedded_log.h"
#include "queue/jetstream_lease.h"
#include "queue/jetstream_queue.h"
#include "support/nats_server.h"
#include "support/process.h"

namespace firehose {
namespace {

using namespace std::chrono_literals;
using testing::NatsCluster;
using testing::TempDir;

enum class Backend { kEmbedded, kJetStream };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kEmbedded ? "Embedded" : "JetStream";
}

Limits ContractLimits() {
  Limits limits;
  limits.queue_bytes_max = 256 << 20;
  limits.segment_bytes_max = 64 << 10;
  limits.record_bytes_max = 16 << 10;
  limits.jetstream_ack_timeout_ms = 3000;
  return limits;
}

QueueRecord MakeRecord(std::string body, std::string_view partner = "acme") {
  QueueRecord record;
  record.arrival_id = NewArrivalId(NowUs());
  record.partner_id = *PartnerId::Parse(partner);
  record.source = ArrivalSource::kPoll;
  record.received_at = TimestampUs(1'764'237'600'123'456);
  record.signature_id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
  record.remote_address = "127.0.0.1:50522";
  record.body = std::move(body);
  return record;
}

Result<QueueOffset> AppendSync(Queue& queue, QueueRecord record) {
  std::promise<Result<QueueOffset>> promise;
  auto future = promise.get_future();
  queue.Append(std::move(record),
               [&](Result<QueueOffset> result) { promise.set_value(std::move(result)); });
  return future.get();
}

std::vector<Delivery> Drain(QueueConsumer& consumer, std::size_t records_max = 1000) {
  std::vector<Delivery> all;
  while (true) {
    auto batch = consumer.Fetch(records_max, 8 << 20, 0ms);
    EXPECT_TRUE(batch.ok()) << batch.status().ToString();
    if (!batch.ok() || batch->empty()) return all;
    for (Delivery& delivery : *batch) all.push_back(std::move(delivery));
  }
}

std::vector<std::string> Bodies(const std::vector<Delivery>& deliveries) {
  std::vector<std::string> bodies;
  for (const Delivery& delivery : deliveries) bodies.push_back(delivery.record.body);
  return bodies;
}

// One nats-server for the whole suite; each test gets its own stream. It is stopped when the
// test program ends (gtest_discover_tests runs each test in a program of its own, so a server
// left running would outlive every test).
class SharedNatsEnvironment : public ::testing::Environment {
 public:
  NatsCluster* Get() {
    if (!started_) {
      started_ = true;
      if (testing::NatsServerProgram().empty()) return nullptr;
      dir_ = std::make_unique<TempDir>();
      auto cluster = std::make_unique<NatsCluster>();
      if (cluster->Start(dir_->path(), 1)) cluster_ = std::move(cluster);
    }
    return cluster_.get();
  }
  void TearDown() override {
    cluster_.reset();  // kills the server before its directory goes
    dir_.reset();
  }

 private:
  bool started_ = false;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<NatsCluster> cluster_;
};

SharedNatsEnvironment* const kSharedNats = static_cast<SharedNatsEnvironment*>(
    ::testing::AddGlobalTestEnvironment(new SharedNatsEnvironment()));

NatsCluster* SharedNats() { return kSharedNats->Get(); }

// Deletes a stream (the suite's streams share one server, and two streams may not both take
// the firehose.raw.> subjects).
void DeleteStream(const std::string& stream) {
  natsConnection* connection = nullptr;
  if (natsConnection_ConnectTo(&connection, SharedNats()->Urls().front().c_str()) != NATS_OK)
    return;
  jsCtx* js = nullptr;
  if (natsConnection_JetStream(&js, connection, nullptr) == NATS_OK) {
    js_DeleteStream(js, stream.c_str(), nullptr, nullptr);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
}

class QueueContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void TearDown() override {
    if (!stream_.empty() && SharedNats() != nullptr) DeleteStream(stream_);
  }

  void SetUp() override {
    if (GetParam() == Backend::kJetStream) {
      if (testing::NatsServerProgram().empty()) GTEST_SKIP() << "nats-server is not installed";
      ASSERT_NE(SharedNats(), nullptr) << "nats-server did not start";
      static std::atomic<int> streams{0};
      stream_ = "CONTRACT" + std::to_string(::getpid()) + "_" + std::to_string(streams++);
    }
  }

  // Opens the queue under test (again, after Close(): the same stored records).
  std::unique_ptr<Queue> Open(const Limits& limits = ContractLimits(),
                              std::vector<std::string> consumers = {}) {
    if (GetParam() == Backend::kEmbedded) {
      auto log = EmbeddedLog::Open(dir_.path() / "queue", limits);
      EXPECT_TRUE(log.ok()) << log.status().ToString();
      return log.ok() ? std::move(log).value() : nullptr;
    }
    QueueConfig config;
    config.backend = QueueBackend::kJetStream;
    config.nats_urls = SharedNats()->Urls();
    config.stream = stream_;
    config.replicas = 1;
    config.consumers = std::move(consumers);
    auto queue = JetStreamQueue::Open(config, limits);
    EXPECT_TRUE(queue.ok()) << queue.status().ToString();
    return queue.ok() ? std::move(queue).value() : nullptr;
  }

  std::unique_ptr<QueueConsumer> OpenConsumer(Queue& queue, std::string_view name) {
    auto consumer = queue.OpenConsumer(name);
    EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
    return consumer.ok() ? std::move(consumer).value() : nullptr;
  }

  TempDir dir_;
  std::string stream_;
};

TEST_P(QueueContractTest, AppendThenFetchRoundTripsEveryField) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  QueueRecord record = MakeRecord("{\"id\":\"evt_1\",\"amount\":1234}", "globex");
  const QueueRecord sent = record;
  auto offset = AppendSync(*queue, std::move(record));
  ASSERT_TRUE(offset.ok()) << offset.status().ToString();
  auto consumer = OpenConsumer(*queue, "lake");
  ASSERT_NE(consumer, nullptr);
  auto batch = consumer->Fetch(10, 1 << 20, 2s);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->size(), 1u);
  const Delivery& delivery = batch->front();
  EXPECT_EQ(delivery.offset, *offset);
  EXPECT_EQ(delivery.record.arrival_id, sent.arrival_id);
  EXPECT_EQ(delivery.record.partner_id, sent.partner_id);
  EXPECT_EQ(delivery.record.source, ArrivalSource::kPoll);
  EXPECT_EQ(delivery.record.received_at, sent.received_at);
  EXPECT_EQ(delivery.record.signature_id, sent.signature_id);
  EXPECT_EQ(delivery.record.remote_address, sent.remote_address);
  EXPECT_EQ(delivery.record.body, sent.body);
}

TEST_P(QueueContractTest, ConcurrentAppendsGetDistinctIncreasingOffsetsAndAreAllDelivered) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 150;
  std::mutex mutex;
  std::map<std::uint64_t, std::string> by_offset;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Asynchronous appends: many in flight at once, as the edge does.
      std::vector<std::future<void>> waits;
      for (int i = 0; i < kPerThread; ++i) {
        auto promise = std::make_shared<std::promise<void>>();
        waits.push_back(promise->get_future());
        std::string body = "t" + std::to_string(t) + "-" + std::to_string(i);
        queue->Append(MakeRecord(body), [&, body, promise](Result<QueueOffset> result) {
          if (!result.ok()) {
            ++failures;
          } else {
            std::lock_guard lock(mutex);
            EXPECT_TRUE(by_offset.emplace(result->value(), body).second) << "offset given twice";
          }
          promise->set_value();
        });
      }
      for (auto& wait : waits) wait.get();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(by_offset.size(), static_cast<std::size_t>(kThreads * kPerThread));
  auto consumer = OpenConsumer(*queue, "lake");
  ASSERT_NE(consumer, nullptr);
  const std::vector<Delivery> delivered = Drain(*consumer, 100);
  ASSERT_EQ(delivered.size(), by_offset.size());
  auto expected = by_offset.begin();
  for (const Delivery& delivery : delivered) {
    EXPECT_EQ(delivery.offset.value(), expected->first);
    EXPECT_EQ(delivery.record.body, expected->second);
    ++expected;
  }
}

TEST_P(QueueContractTest, ConsumersResumeAfterTheirCommitAcrossARestart) {
  std::vector<QueueOffset> offsets;
  {
    auto queue = Open();
    ASSERT_NE(queue, nullptr);
    for (int i = 0; i < 10; ++i) {
      auto offset = AppendSync(*queue, MakeRecord("r" + std::to_string(i)));
      ASSERT_TRUE(offset.ok()) << offset.status().ToString();
      offsets.push_back(*offset);
    }
    auto consumer = OpenConsumer(*queue, "lake");
    ASSERT_NE(consumer, nullptr);
    auto batch = consumer->Fetch(4, 1 << 20, 1s);
    ASSERT_TRUE(batch.ok());
    ASSERT_EQ(batch->size(), 4u);
    ASSERT_TRUE(consumer->Commit(batch->back().offset).ok());
    EXPECT_EQ(consumer->committed_next().value(), offsets[3].value() + 1);
    // Delivered but never committed: must come again after the restart.
    auto more = consumer->Fetch(3, 1 << 20, 1s);
    ASSERT_TRUE(more.ok());
    EXPECT_EQ(more->size(), 3u);
    queue->Shutdown();
  }
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  auto consumer = OpenConsumer(*queue, "lake");
  ASSERT_NE(consumer, nullptr);
  EXPECT_EQ(consumer->committed_next().value(), offsets[3].value() + 1);
  EXPECT_EQ(Bodies(Drain(*consumer)),
            (std::vector<std::string>{"r4", "r5", "r6", "r7", "r8", "r9"}));
}

TEST_P(QueueContractTest, AReopenedConsumerGetsItsUncommittedRecordsAgainInOrder) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(AppendSync(*queue, MakeRecord("r" + std::to_string(i))).ok());
  {
    // A reader that dies holding records it never committed (a lake writer killed mid-range).
    auto consumer = OpenConsumer(*queue, "lake");
    ASSERT_NE(consumer, nullptr);
    auto batch = consumer->Fetch(2, 1 << 20, 1s);
    ASSERT_TRUE(batch.ok());
    ASSERT_TRUE(consumer->Commit(batch->back().offset).ok());
    EXPECT_EQ(Drain(*consumer).size(), 4u);
  }
  auto consumer = OpenConsumer(*queue, "lake");
  ASSERT_NE(consumer, nullptr);
  // At once, not after a redelivery timeout, and in offset order.
  auto batch = consumer->Fetch(10, 1 << 20, 2s);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(Bodies(*batch), (std::vector<std::string>{"r2", "r3", "r4", "r5"}));
}

TEST_P(QueueContractTest, ConsumersAreIndependent) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(AppendSync(*queue, MakeRecord("r" + std::to_string(i))).ok());
  auto lake = OpenConsumer(*queue, "lake");
  auto ops = OpenConsumer(*queue, "ops");
  ASSERT_NE(lake, nullptr);
  ASSERT_NE(ops, nullptr);
  const auto lake_records = Drain(*lake);
  ASSERT_EQ(lake_records.size(), 5u);
  ASSERT_TRUE(lake->Commit(lake_records.back().offset).ok());
  EXPECT_EQ(Bodies(Drain(*ops)), Bodies(lake_records));
  EXPECT_FALSE(queue->OpenConsumer("Bad Name!").ok());
  EXPECT_FALSE(queue->OpenConsumer("").ok());
  // One object per consumer name in a process.
  EXPECT_EQ(queue->OpenConsumer("lake").status().code(), StatusCode::kFailedPrecondition);
}

TEST_P(QueueContractTest, ADroppedConsumerStartsAfreshAndAnOpenOneCannotBeDropped) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(AppendSync(*queue, MakeRecord("r" + std::to_string(i))).ok());
  {
    auto ops = OpenConsumer(*queue, "ops");
    ASSERT_NE(ops, nullptr);
    const auto records = Drain(*ops);
    ASSERT_EQ(records.size(), 3u);
    ASSERT_TRUE(ops->Commit(records.back().offset).ok());
    EXPECT_EQ(queue->DropConsumer("ops").code(), StatusCode::kFailedPrecondition);
  }
  EXPECT_TRUE(queue->DropConsumer("ops").ok());
  EXPECT_TRUE(queue->DropConsumer("never-opened").ok());
  auto ops = OpenConsumer(*queue, "ops");
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(Drain(*ops).size(), 3u);  // afresh: from the oldest stored record
}

TEST_P(QueueContractTest, FetchHonoursTheRecordLimitAndWaitsForTheNextRecord) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(AppendSync(*queue, MakeRecord("r" + std::to_string(i))).ok());
  auto consumer = OpenConsumer(*queue, "lake");
  ASSERT_NE(consumer, nullptr);
  auto batch = consumer->Fetch(3, 1 << 20, 1s);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->size(), 3u);
  EXPECT_EQ(Drain(*consumer).size(), 4u);
  auto empty = consumer->Fetch(10, 1 << 20, 50ms);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  std::thread later([&] {
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(AppendSync(*queue, MakeRecord("late")).ok());
  });
  const auto started = std::chrono::steady_clock::now();
  auto waited = consumer->Fetch(10, 1 << 20, 5s);
  later.join();
  ASSERT_TRUE(waited.ok());
  ASSERT_EQ(waited->size(), 1u);
  EXPECT_EQ(waited->front().record.body, "late");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
}

TEST_P(QueueContractTest, SeekForwardSkipsRecordsAndMovesTheDurableCursor) {
  std::vector<QueueOffset> offsets;
  {
    auto queue = Open();
    ASSERT_NE(queue, nullptr);
    for (int i = 0; i < 8; ++i) {
      auto offset = AppendSync(*queue, MakeRecord("r" + std::to_string(i)));
      ASSERT_TRUE(offset.ok());
      offsets.push_back(*offset);
    }
    auto consumer = OpenConsumer(*queue, "lake");
    ASSERT_NE(consumer, nullptr);
    EXPECT_EQ(Drain(*consumer, 2).size(), 8u);  // delivered, never committed
    ASSERT_TRUE(consumer->Seek(offsets[5]).ok());
    EXPECT_EQ(consumer->committed_next(), offsets[5]);
    EXPECT_EQ(Bodies(Drain(*consumer)), (std::vector<std::string>{"r5", "r6", "r7"}));
    queue->Shutdown();
  }
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  auto consumer = OpenConsumer(*queue, "lake");
  ASSERT_NE(consumer, nullptr);
  EXPECT_EQ(consumer->committed_next(), offsets[5]);
  EXPECT_EQ(Bodies(Drain(*consumer)), (std::vector<std::string>{"r5", "r6", "r7"}));
}

TEST_P(QueueContractTest, BadRecordsAreRefusedWithSpecificErrors) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  QueueRecord no_arrival = MakeRecord("x");
  no_arrival.arrival_id = ArrivalId();
  EXPECT_EQ(AppendSync(*queue, no_arrival).status().code(), StatusCode::kInvalidArgument);
  const auto too_large = AppendSync(*queue, MakeRecord(std::string(20 << 10, 'x')));
  EXPECT_EQ(too_large.status().code(), StatusCode::kInvalidArgument);
  // The queue goes on.
  EXPECT_TRUE(AppendSync(*queue, MakeRecord("fine")).ok());
}

TEST_P(QueueContractTest, AtTheSizeLimitAppendsAreRefusedForSpace) {
  Limits limits = ContractLimits();
  limits.queue_bytes_max = 1 << 20;
  auto queue = Open(limits);
  ASSERT_NE(queue, nullptr);
  Status refused;
  int stored = 0;
  for (int i = 0; i < 200 && refused.ok(); ++i) {
    auto offset = AppendSync(*queue, MakeRecord(std::string(12 << 10, 'a' + i % 26)));
    if (offset.ok()) {
      ++stored;
    } else {
      refused = offset.status();
    }
  }
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused.ToString();
  EXPECT_GT(stored, 40);
  EXPECT_TRUE(queue->Full());
}

TEST_P(QueueContractTest, ShutdownCompletesAppendsInFlightThenRefuses) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  std::atomic<int> completed{0};
  std::atomic<int> succeeded{0};
  for (int i = 0; i < 200; ++i) {
    queue->Append(MakeRecord("r" + std::to_string(i)), [&](Result<QueueOffset> result) {
      if (result.ok()) ++succeeded;
      ++completed;
    });
  }
  queue->Shutdown();
  EXPECT_EQ(completed.load(), 200);
  EXPECT_GT(succeeded.load(), 0);
  EXPECT_EQ(AppendSync(*queue, MakeRecord("after")).status().code(), StatusCode::kUnavailable);
  queue->Shutdown();  // idempotent
}

TEST_P(QueueContractTest, StatsCountRecordsAndConsumerLag) {
  auto queue = Open(ContractLimits(), {"lake"});
  ASSERT_NE(queue, nullptr);
  QueueOffset last;
  for (int i = 0; i < 5; ++i) {
    auto offset = AppendSync(*queue, MakeRecord("r" + std::to_string(i)));
    ASSERT_TRUE(offset.ok());
    last = *offset;
  }
  auto consumer = OpenConsumer(*queue, "lake");
  ASSERT_NE(consumer, nullptr);
  auto batch = consumer->Fetch(2, 1 << 20, 1s);
  ASSERT_TRUE(batch.ok());
  ASSERT_TRUE(consumer->Commit(batch->back().offset).ok());
  const QueueStats stats = queue->Stats();
  EXPECT_EQ(stats.next_offset.value(), last.value() + 1);
  EXPECT_GT(stats.bytes, 5u * 10);
  ASSERT_EQ(stats.consumers.size(), 1u);
  EXPECT_EQ(stats.consumers[0].name, "lake");
  EXPECT_EQ(stats.consumers[0].committed_next.value(), batch->back().offset.value() + 1);
  EXPECT_EQ(stats.consumers[0].lag_records, 3u);
}

INSTANTIATE_TEST_SUITE_P(Backends, QueueContractTest,
                         ::testing::Values(Backend::kEmbedded, Backend::kJetStream), BackendName);

// ---------------------------------------------------------------------------------------------
// JetStream only: what the edge needs from the backend when the servers go away.

TEST(JetStreamQueue, AppendsFailFastWithUnavailableWhileTheServerIsDownAndRecover) {
  if (testing::NatsServerProgram().empty()) GTEST_SKIP() << "nats-server is not installed";
  TempDir dir;
  NatsCluster nats;
  ASSERT_TRUE(nats.Start(dir.path(), 1));
  QueueConfig config;
  config.backend = QueueBackend::kJetStream;
  config.nats_urls = nats.Urls();
  config.stream = "DOWN";
  config.replicas = 1;
  auto queue = JetStreamQueue::Open(config, ContractLimits());
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  ASSERT_TRUE(AppendSync(**queue, MakeRecord("before")).ok());
  nats.Kill(0, SIGKILL);
  std::this_thread::sleep_for(300ms);
  const auto started = std::chrono::steady_clock::now();
  auto refused = AppendSync(**queue, MakeRecord("during"));
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
  ASSERT_TRUE(nats.Restart(0));
  Result<QueueOffset> after = Unavailable("not tried");
  for (int i = 0; i < 100 && !after.ok(); ++i) {
    after = AppendSync(**queue, MakeRecord("after"));
    if (!after.ok()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  auto consumer = (*queue)->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  EXPECT_EQ(Bodies(Drain(**consumer)), (std::vector<std::string>{"before", "after"}));
}

// Deletion mirrors the embedded log: only what every configured consumer committed is purged,
// and only retention_s after that was seen; a consumer outside the list does not hold it back.
TEST(JetStreamQueue, RetentionPurgesOnlyWhatEveryConfiguredConsumerCommitted) {
  if (testing::NatsServerProgram().empty()) GTEST_SKIP() << "nats-server is not installed";
  TempDir dir;
  NatsCluster nats;
  ASSERT_TRUE(nats.Start(dir.path(), 1));
  QueueConfig config;
  config.backend = QueueBackend::kJetStream;
  config.nats_urls = nats.Urls();
  config.stream = "RETAIN";
  config.replicas = 1;
  config.consumers = {"lake", "audit"};
  Limits limits = ContractLimits();
  limits.retention_s = 0;
  auto queue = JetStreamQueue::Open(config, limits);
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  std::vector<QueueOffset> offsets;
  for (int i = 0; i < 10; ++i) {
    auto offset = AppendSync(**queue, MakeRecord("r" + std::to_string(i)));
    ASSERT_TRUE(offset.ok());
    offsets.push_back(*offset);
  }
  auto lake = (*queue)->OpenConsumer("lake");
  auto audit = (*queue)->OpenConsumer("audit");
  ASSERT_TRUE(lake.ok() && audit.ok());
  const auto lake_records = Drain(**lake);
  ASSERT_EQ(lake_records.size(), 10u);
  ASSERT_TRUE((*lake)->Commit(offsets[7]).ok());
  // "audit" has committed nothing: nothing may go.
  auto purged = (*queue)->EnforceRetention();
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(*purged, 0u);
  const auto audit_records = Drain(**audit);
  ASSERT_EQ(audit_records.size(), 10u);
  ASSERT_TRUE((*audit)->Commit(offsets[3]).ok());
  purged = (*queue)->EnforceRetention();
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(*purged, 4u);  // r0..r3: below both cursors
  EXPECT_EQ((*queue)->Stats().first_offset, offsets[4]);
  // An unlisted consumer opened now starts at the oldest record still stored.
  auto late = (*queue)->OpenConsumer("late");
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(Drain(**late).front().record.body, "r4");
}

TEST(JetStreamQueue, OpenFailsWithUnavailableWhenNoServerAnswers) {
  QueueConfig config;
  config.backend = QueueBackend::kJetStream;
  config.nats_urls = {"nats://127.0.0.1:" + std::to_string(testing::FreePort())};
  auto queue = JetStreamQueue::Open(config, ContractLimits());
  EXPECT_EQ(queue.status().code(), StatusCode::kUnavailable) << queue.status().ToString();
}

// The lake writer's lease: one holder at a time; a clean release hands over at once, a holder
// that stops renewing (a dead process) is replaced only after a whole lease.
TEST(JetStreamLease, OneHolderAtATimeWithHandoverOnReleaseAndTakeoverAfterExpiry) {
  if (testing::NatsServerProgram().empty()) GTEST_SKIP() << "nats-server is not installed";
  ASSERT_NE(SharedNats(), nullptr);
  QueueConfig config;
  config.backend = QueueBackend::kJetStream;
  config.nats_urls = SharedNats()->Urls();
  config.stream = "LEASETEST" + std::to_string(::getpid());
  config.replicas = 1;
  Limits limits;
  limits.jetstream_lease_ms = 1000;
  auto first = JetStreamLease::Open(config, limits, "lake-w0", "first");
  auto second = JetStreamLease::Open(config, limits, "lake-w0", "second");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  std::atomic<bool> never{false};
  ASSERT_TRUE((*first)->Acquire(never));
  EXPECT_TRUE((*first)->Check().ok());

  // The second waits while the first renews (several leases long).
  std::atomic<bool> second_holds{false};
  std::atomic<bool> stop_second{false};
  std::thread contender([&] { second_holds = (*second)->Acquire(stop_second); });
  std::this_thread::sleep_for(2500ms);
  EXPECT_FALSE(second_holds.load());
  EXPECT_TRUE((*first)->held());
  // A clean release hands over at once.
  const auto released = std::chrono::steady_clock::now();
  (*first)->Release();
  EXPECT_EQ((*first)->Check().code(), StatusCode::kFailedPrecondition);
  contender.join();
  EXPECT_TRUE(second_holds.load());
  EXPECT_LT(std::chrono::steady_clock::now() - released, 800ms);

  // The holder dies without releasing (its object is destroyed: no renewal, no release): the
  // first takes over, but only after a whole lease.
  second->reset();
  const auto died = std::chrono::steady_clock::now();
  ASSERT_TRUE((*first)->Acquire(never));
  EXPECT_GE(std::chrono::steady_clock::now() - died, 1000ms);
  EXPECT_TRUE((*first)->held());
}

// A writer (re)started while the cluster has no JetStream quorum (a node killed, the rest
// electing) waits it out, as the queue's Open does, instead of exiting with "creating bucket:
// Timeout" — what a land process restarted during the cluster test's kills did.
TEST(JetStreamLease, OpenWaitsForAClusterThatLostItsQuorum) {
  if (testing::NatsServerProgram().empty()) GTEST_SKIP() << "nats-server is not installed";
  TempDir dir;
  NatsCluster nats;
  ASSERT_TRUE(nats.Start(dir.path(), 3));
  nats.Kill(1, SIGKILL);
  nats.Kill(2, SIGKILL);  // node 0 alone: no meta leader, JetStream requests go unanswered
  QueueConfig config;
  config.backend = QueueBackend::kJetStream;
  config.nats_urls = {nats.Urls()[0]};
  config.stream = "QUORUM";
  config.replicas = 1;
  std::atomic<bool> restarted{false};
  std::thread restart([&] {
    std::this_thread::sleep_for(4s);
    // The whole cluster back: with two of three a leader is elected, but it may place the new
    // bucket on the node still down and time out again (seen once, under load).
    restarted = nats.Restart(1) && nats.Restart(2);
  });
  const auto started = std::chrono::steady_clock::now();
  auto lease = JetStreamLease::Open(config, Limits{}, "lake-w0", "after-quorum");
  const auto took = std::chrono::steady_clock::now() - started;
  restart.join();
  ASSERT_TRUE(restarted.load());
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_GE(took, 4s) << "the bucket cannot have been opened before the quorum came back";
  std::atomic<bool> never{false};
  EXPECT_TRUE((*lease)->Acquire(never));
  (*lease)->Release();
}

}  // namespace
}  // namespace firehose
