// The plain JetStream publish baseline for bench/jetstream_vs_log.sh: the nats.c client
// publishing asynchronously to a stream, nothing else (no HTTP, no signatures, no record
// encoding), with a bounded number of publishes waiting for their PubAck.
//
//   nats_publish_bench --url nats://127.0.0.1:4222 --stream S --replicas 1 --messages 200000
//                      --bytes 700 --window 64
// Creates the stream (file storage, subjects <stream>.>) if needed, publishes, waits for every
// PubAck, and prints "RESULT messages=.. seconds=.. rate=.. failed=..".
#include <nats/nats.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

namespace {

struct Window {
  std::mutex mutex;
  std::condition_variable cv;
  std::int64_t in_flight = 0;
  std::atomic<std::int64_t> failed{0};
};

void OnAck(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr*, void* closure) {
  auto* window = static_cast<Window*>(closure);
  if (ack == nullptr) ++window->failed;
  natsMsg_Destroy(msg);
  {
    std::lock_guard lock(window->mutex);
    --window->in_flight;
  }
  window->cv.notify_one();
}

int Fail(const char* what, natsStatus status) {
  std::fprintf(stderr, "%s: %s\n", what, natsStatus_GetText(status));
  return 3;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Plain nats.c JetStream async publish baseline"};
  std::string url = "nats://127.0.0.1:4222";
  std::string stream_name = "PUBBENCH";
  int replicas = 1;
  std::int64_t messages = 200000;
  int bytes = 700;
  std::int64_t window_max = 64;
  app.add_option("--url", url, "nats server(s), comma-separated");
  app.add_option("--stream", stream_name, "stream (created if missing)");
  app.add_option("--replicas", replicas, "stream replicas at creation");
  app.add_option("--messages", messages, "messages to publish");
  app.add_option("--bytes", bytes, "payload bytes per message");
  app.add_option("--window", window_max, "publishes waiting for a PubAck at most");
  CLI11_PARSE(app, argc, argv);

  natsConnection* connection = nullptr;
  natsStatus status = natsConnection_ConnectTo(&connection, url.c_str());
  if (status != NATS_OK) return Fail("connect", status);
  Window window;
  jsOptions options;
  jsOptions_Init(&options);
  options.PublishAsync.MaxPending = window_max + 16;
  options.PublishAsync.AckHandler = OnAck;
  options.PublishAsync.AckHandlerClosure = &window;
  jsCtx* js = nullptr;
  status = natsConnection_JetStream(&js, connection, &options);
  if (status != NATS_OK) return Fail("jetstream", status);

  const std::string subjects = stream_name + ".>";
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig stream;
  jsStreamConfig_Init(&stream);
  stream.Name = stream_name.c_str();
  stream.Subjects = subject_list;
  stream.SubjectsLen = 1;
  stream.Storage = js_FileStorage;
  stream.Replicas = replicas;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  status = js_AddStream(nullptr, js, &stream, nullptr, &error_code);
  if (status != NATS_OK && error_code != JSStreamNameExistErr) return Fail("add stream", status);

  const std::string payload(static_cast<std::size_t>(bytes), 'x');
  const std::string subject = stream_name + ".bench";
  const auto started = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < messages; ++i) {
    {
      std::unique_lock lock(window.mutex);
      window.cv.wait(lock, [&] { return window.in_flight < window_max; });
      ++window.in_flight;
    }
    natsMsg* msg = nullptr;
    natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(), bytes);
    const std::string id = "m" + std::to_string(i);
    natsMsgHeader_Set(msg, "Nats-Msg-Id", id.c_str());
    status = js_PublishMsgAsync(js, &msg, nullptr);
    if (status != NATS_OK) {
      natsMsg_Destroy(msg);
      ++window.failed;
      std::lock_guard lock(window.mutex);
      --window.in_flight;
    }
  }
  {
    std::unique_lock lock(window.mutex);
    window.cv.wait(lock, [&] { return window.in_flight == 0; });
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("RESULT messages=%lld seconds=%.3f rate=%.1f failed=%lld\n",
              static_cast<long long>(messages), seconds, static_cast<double>(messages) / seconds,
              static_cast<long long>(window.failed.load()));
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
  return 0;
}
