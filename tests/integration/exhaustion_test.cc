// Resource exhaustion against a running `firehose run` (real binary, real sockets): slowloris,
// a flood of idle keep-alive connections, a client that never reads its answers, and a full
// disk. In each case another client's signed webhooks keep being served, the hostile
// connections are closed by their named limits (core/limits.h), and nothing is acknowledged
// that was not stored.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "support/raw_http.h"
#include "support/run_fixture.h"
#include "support/webhook_fixtures.h"

namespace firehose {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using testing::JsonStringField;
using testing::RawClient;
using testing::RunServer;

std::string SignedEvent(std::string_view txn_id, std::size_t pad_bytes = 0) {
  const std::string body = R"({"id":"evt","created":1764201600,"pad":")" +
                           std::string(pad_bytes, 'p') + R"(","data":{"object":{"id":")" +
                           std::string(txn_id) +
                           R"(","amount":1234,"currency":"usd","status":"succeeded"}}})";
  return testing::SignedPost("acme", body);
}

// Sends signed webhooks from 127.0.0.1 for `duration`, one every 100 ms, each on a fresh
// connection; returns the slowest answer, or a huge value if one was not a 202.
milliseconds ServeWhile(const RunServer& server, milliseconds duration, std::string_view tag,
                        int* served) {
  milliseconds slowest(0);
  const auto end = Clock::now() + duration;
  for (int i = 0; Clock::now() < end; ++i) {
    const auto start = Clock::now();
    const auto response = testing::RoundTrip(
        server.port(), SignedEvent(std::string(tag) + std::to_string(i)), seconds(5));
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    EXPECT_TRUE(response && response->status == 202) << "webhook " << i << " during " << tag << ": "
                                                     << (response ? response->body : "no answer");
    if (!response || response->status != 202) return milliseconds(1'000'000);
    slowest = std::max(slowest, took);
    ++*served;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return slowest;
}

std::uint64_t ClosedFor(const RunServer& server, std::string_view reason) {
  return server.Counter("firehose_http_connections_closed_total", {{"reason", std::string(reason)}})
      .value_or(0);
}

constexpr int kSlowClients = 500;

TEST(Exhaustion, SlowlorisDoesNotDelayOtherPartnersWebhooks) {
  testing::TempDir dir;
  RunServer server(dir.path(), testing::WithLimits("header_timeout_ms = 4000\n"));
  ASSERT_TRUE(server.Start());
  const bool metrics_served = server.Counter("firehose_received_total", {}).has_value();
  const std::uint64_t closed_before = ClosedFor(server, "header_timeout");

  // 500 connections from another address, each starting a request and sending one more byte
  // of its header section every second.
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < kSlowClients; ++i) {
    slow.push_back(std::make_unique<RawClient>(server.port(), "127.0.0.2"));
    ASSERT_TRUE(slow.back()->connected()) << "slow client " << i;
    ASSERT_TRUE(slow.back()->Send("POST /v1/webhooks/acme HTTP/1.1\r\nX"));
  }
  std::atomic<bool> dripping{true};
  std::atomic<int> still_open{kSlowClients};
  std::thread drip([&] {
    while (dripping) {
      int open = 0;
      for (auto& client : slow) {
        if (client->connected() && client->Send("x")) ++open;
      }
      still_open = open;
      std::this_thread::sleep_for(seconds(1));
    }
  });

  int served = 0;
  const milliseconds slowest = ServeWhile(server, seconds(3), "slowloris", &served);
  EXPECT_LT(slowest, seconds(1)) << "a webhook waited behind the slow clients";
  EXPECT_GT(served, 10);
  EXPECT_GT(still_open.load(), kSlowClients * 9 / 10) << "the slow clients were not all held open";

  // header_timeout_ms counts from the first byte and is not extended by each one: all of them
  // are closed once it passes, while webhooks go on being served.
  const milliseconds later = ServeWhile(server, seconds(3), "slowloris-late", &served);
  EXPECT_LT(later, seconds(1));
  int closed = 0;
  for (auto& client : slow) closed += client->WaitClosed(seconds(5)) ? 1 : 0;
  dripping = false;
  drip.join();
  EXPECT_EQ(closed, kSlowClients) << "slow clients outlived header_timeout_ms";
  if (metrics_served) {
    EXPECT_GE(ClosedFor(server, "header_timeout"), closed_before + kSlowClients);
  }
  EXPECT_EQ(server.Stop(), 0);
}

TEST(Exhaustion, AFloodOfIdleKeepAliveConnectionsIsServedAroundAndClosedByTheIdleTimeout) {
  testing::TempDir dir;
  RunServer server(dir.path(), testing::WithLimits("idle_timeout_ms = 3000\n"));
  ASSERT_TRUE(server.Start());
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < kSlowClients; ++i) {
    idle.push_back(std::make_unique<RawClient>(server.port(), "127.0.0.3"));
    ASSERT_TRUE(idle.back()->Send(testing::BuildRequest("GET", "/healthz")));
    const auto response = idle.back()->Read();
    ASSERT_TRUE(response && response->status == 200) << "idle client " << i;
    ASSERT_NE(response->Header("Connection"), "close");
  }
  int served = 0;
  EXPECT_LT(ServeWhile(server, seconds(2), "idle", &served), seconds(1));
  int closed = 0;
  for (auto& client : idle) closed += client->WaitClosed(seconds(5)) ? 1 : 0;
  EXPECT_EQ(closed, kSlowClients) << "idle keep-alive connections outlived idle_timeout_ms";
  EXPECT_EQ(server.Stop(), 0);
}

TEST(Exhaustion, AClientThatNeverReadsItsAnswersCannotPinAWorker) {
  testing::TempDir dir;
  RunServer server(dir.path(), testing::WithLimits("write_timeout_ms = 1000\n"));
  ASSERT_TRUE(server.Start());
  // Two io threads: pin attempts on more connections than threads.
  constexpr int kNeverReaders = 4;
  const bool metrics_served = server.Counter("firehose_received_total", {}).has_value();
  const std::uint64_t closed_before = ClosedFor(server, "write_timeout");
  std::atomic<int> dropped{0};
  std::vector<std::int64_t> drop_ms(kNeverReaders, 0);  // each reader's own slot
  const auto started = Clock::now();
  std::vector<std::thread> readers;
  for (int i = 0; i < kNeverReaders; ++i) {
    readers.emplace_back([&, i] {
      RawClient client(server.port(), "127.0.0.4");
      client.SetReceiveBuffer(1024);
      std::string pipeline;
      for (int n = 0; n < 1000; ++n) pipeline += testing::BuildRequest("GET", "/healthz");
      // Keeps pipelining requests and never reads an answer: the server's writes block.
      const auto give_up = Clock::now() + seconds(30);
      while (Clock::now() < give_up) {
        if (!client.Send(pipeline)) {
          ++dropped;
          drop_ms[static_cast<std::size_t>(i)] =
              std::chrono::duration_cast<milliseconds>(Clock::now() - started).count();
          return;
        }
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(500));
  int served = 0;
  EXPECT_LT(ServeWhile(server, seconds(3), "never-read", &served), seconds(1));
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(dropped.load(), kNeverReaders)
      << "a never-reading client was not dropped by write_timeout_ms";
  // The answers the kernel took but the client never acknowledges count too (TCP_USER_TIMEOUT):
  // a client that advertised a window and then dropped the data used to hold its connection
  // ~100 s, through the idle timeout and the retransmission backoff.
  EXPECT_LT(*std::max_element(drop_ms.begin(), drop_ms.end()), 10000)
      << "the last never-reading client was dropped late";
  if (metrics_served) {
    EXPECT_GE(ClosedFor(server, "write_timeout"), closed_before + kNeverReaders);
  }
  EXPECT_EQ(server.Stop(), 0);
}

// A tmpfs mounted by the test (the tests run as root) as the data directory.
class SmallFilesystem {
 public:
  SmallFilesystem(const std::filesystem::path& path, std::string_view size) : path_(path) {
    std::filesystem::create_directories(path);
    const std::string options = "size=" + std::string(size) + ",mode=0700";
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0;
    error_ = errno;
  }
  ~SmallFilesystem() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  int error() const { return error_; }

 private:
  std::filesystem::path path_;
  bool mounted_ = false;
  int error_ = 0;
};

TEST(Exhaustion, AFullDiskAnswers503AcknowledgesOnlyWhatItStoredAndRecoversWhenSpaceReturns) {
  testing::TempDir dir;
  const std::filesystem::path data = dir.path() / "data";
  SmallFilesystem filesystem(data, "6m");
  if (!filesystem.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(filesystem.error())
                 << "): the disk-full test needs root or CAP_SYS_ADMIN";
  }
  // Ballast to free later: the "space returns" step.
  const std::filesystem::path ballast = data / "ballast";
  {
    std::ofstream out(ballast, std::ios::binary);
    const std::string block(1 << 20, 'b');
    for (int i = 0; i < 2; ++i) out << block;
  }
  testing::RunServerOptions options = testing::WithLimits(
      "segment_bytes_max = 1048576\nqueue_bytes_max = 67108864\nrecord_bytes_max = 65536\n"
      "body_bytes_max = 32768\n");
  options.data_dir = data;
  RunServer server(dir.path(), options);
  ASSERT_TRUE(server.Start());

  std::map<std::string, std::vector<std::string>> acknowledged;
  int unavailable = 0;
  auto send = [&](const std::string& txn) -> int {
    const auto response =
        testing::RoundTrip(server.port(), SignedEvent(txn, 16 << 10), seconds(10));
    if (!response) {
      ADD_FAILURE() << txn << ": no answer";
      return 0;
    }
    if (response->status == 202) {
      acknowledged[JsonStringField(response->body, "arrival_id")].push_back("");
    } else if (response->status == 503) {
      const std::string code = testing::ErrorCodeOf(*response);
      EXPECT_TRUE(code == "disk_full" || code == "queue_full") << code;
      EXPECT_FALSE(response->Header("Retry-After").empty());
      ++unavailable;
    } else {
      ADD_FAILURE() << txn << ": " << response->status << " " << response->body;
    }
    return response->status;
  };
  // Fill the disk: 16 KiB bodies until the edge refuses several in a row.
  int refused_in_a_row = 0;
  for (int i = 0; i < 2000 && refused_in_a_row < 5; ++i) {
    refused_in_a_row = send("fill" + std::to_string(i)) == 503 ? refused_in_a_row + 1 : 0;
  }
  ASSERT_EQ(refused_in_a_row, 5) << "the disk never filled";
  const std::size_t acknowledged_while_filling = acknowledged.size();
  EXPECT_GT(acknowledged_while_filling, 20u);

  // Space returns: the edge accepts again by itself (no restart).
  std::filesystem::remove(ballast);
  int accepted_after = 0;
  for (int i = 0; i < 100 && accepted_after < 5; ++i) {
    if (send("after" + std::to_string(i)) == 202) ++accepted_after;
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_EQ(accepted_after, 5) << "the edge did not accept again after space was freed";

  testing::WaitForLakeArrivals(data, acknowledged.size(), std::chrono::seconds(30));
  ASSERT_EQ(server.Stop(), 0);
  // Every acknowledged arrival is in the lake, nothing else is, and the lake verifies.
  EXPECT_EQ(testing::LakeArrivals(data), acknowledged);
  std::string verify;
  EXPECT_EQ(
      testing::RunCommand(
          {testing::FirehoseBinary(), "lake", "verify", "--data-dir", data.string()}, &verify),
      0)
      << verify;
  std::printf(
      "acknowledged %zu arrivals before the disk filled, %d answers 503, 5 accepted after\n",
      acknowledged_while_filling, unavailable);
}

}  // namespace
}  // namespace firehose
