// Firehose HTTP bake-off candidate: GNU libmicrohttpd (Debian 0.9.75).
// usage: mhd_server PORT [THREADS=2] [sync|deferred] [TIMEOUT_S=10]
//   epoll internal thread pool of THREADS; the upload is accumulated in the access
//   handler. deferred: the connection is MHD_suspend_connection()ed after the body is
//   complete, FakeAppender's thread "completes" the append and calls
//   MHD_resume_connection(); MHD then calls the handler again and the 202 is queued.
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include "fake_append.hpp"

static const char kAccepted[] = "{\"arrival_id\":\"01HZZZZZZZZZZZZZZZZZZZZZZZ\"}";
static const char kTooLarge[] = "{\"error\":\"body too large\"}";
constexpr size_t kBodyLimit = 64 * 1024;
constexpr size_t kConnMemory = 16 * 1024;  // per-connection pool: header limit + read buffer
constexpr unsigned kMaxConnections = 10000;
static MHD_Response* g_accepted = nullptr;
static MHD_Response* g_too_large = nullptr;
static bool g_deferred = false;
static FakeAppender* g_appender = nullptr;

struct Request {
  std::string body;
  bool too_large = false;
  bool suspended = false;
  std::atomic<bool> durable{false};
};

static MHD_Result on_request(void*, MHD_Connection* c, const char*, const char*, const char*,
                             const char* data, size_t* size, void** con_cls) {
  auto* r = static_cast<Request*>(*con_cls);
  if (r == nullptr) {
    // First call: headers only. Refuse a declared oversize body before reading any of it.
    const char* cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != nullptr && std::strtoull(cl, nullptr, 10) > kBodyLimit)
      return MHD_queue_response(c, MHD_HTTP_CONTENT_TOO_LARGE, g_too_large);
    r = new Request;
    r->body.reserve(1024);
    *con_cls = r;
    return MHD_YES;
  }
  if (*size != 0) {  // a chunk of the upload
    if (r->body.size() + *size > kBodyLimit)
      r->too_large = true;  // chunked upload grew too big: drop the rest, answer 413
    else if (!r->too_large)
      r->body.append(data, *size);
    *size = 0;
    return MHD_YES;
  }
  if (r->too_large) return MHD_queue_response(c, MHD_HTTP_CONTENT_TOO_LARGE, g_too_large);
  if (g_deferred && !r->durable.load(std::memory_order_acquire)) {
    if (!r->suspended) {
      r->suspended = true;
      MHD_suspend_connection(c);  // worker thread goes on serving other connections
      g_appender->append([c, r] {
        r->durable.store(true, std::memory_order_release);
        MHD_resume_connection(c);  // allowed from any thread
      });
    }
    return MHD_YES;
  }
  return MHD_queue_response(c, MHD_HTTP_ACCEPTED, g_accepted);
}

static void on_completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<Request*>(*con_cls);
  *con_cls = nullptr;
}

static MHD_Response* json_response(const char* body) {
  MHD_Response* r = MHD_create_response_from_buffer(std::strlen(body), (void*)body,
                                                    MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  return r;
}

int main(int argc, char** argv) {
  const unsigned short port = argc > 1 ? std::atoi(argv[1]) : 0;
  const unsigned threads = argc > 2 ? std::atoi(argv[2]) : 2;
  g_deferred = argc > 3 && std::string(argv[3]) == "deferred";
  const unsigned timeout_s = argc > 4 ? std::atoi(argv[4]) : 10;
  std::optional<FakeAppender> appender;
  if (g_deferred) g_appender = &appender.emplace();
  g_accepted = json_response(kAccepted);
  g_too_large = json_response(kTooLarge);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG;
  MHD_Daemon* d = MHD_start_daemon(
      flags, port, nullptr, nullptr, &on_request, nullptr,
      MHD_OPTION_SOCK_ADDR, (const sockaddr*)&addr,
      MHD_OPTION_THREAD_POOL_SIZE, threads,
      MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,        // idle timeout (reset by any byte)
      MHD_OPTION_CONNECTION_LIMIT, kMaxConnections,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnMemory,  // headers beyond this -> 431
      MHD_OPTION_NOTIFY_COMPLETED, &on_completed, nullptr,
      MHD_OPTION_END);
  if (d == nullptr) {
    std::fprintf(stderr, "MHD_start_daemon failed\n");
    return 1;
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  std::printf("LISTENING %u mhd %s threads=%u\n", info ? info->port : port,
              g_deferred ? "deferred" : "sync", threads);
  std::fflush(stdout);
  for (;;) pause();  // killed with SIGTERM by run.sh
}
