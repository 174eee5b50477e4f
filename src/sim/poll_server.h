// The simulator's poll APIs (DESIGN §9): one local HTTP server (the edge's HttpServer) that
// serves each simulated poll partner's feed at GET /poll/<partner_id>, paginated by cursor or by
// since, behind the partner's auth, with a per-partner fault schedule applied on the server.
//
// The API a poll partner offers (docs/poll.md, "The simulator's poll API"):
//   GET /poll/<partner>?limit=N[&cursor=C]   cursor mode: C is the opaque next_cursor of the
//                                            previous page (absent: from the beginning)
//   GET /poll/<partner>?limit=N[&since=S]    since mode: the items whose "seq" is above S
//   200 {"data":[items],"next_cursor":"...","has_more":bool}   (since mode: no next_cursor)
// In since mode every item carries its feed position as "seq" (1-based), the first key of the
// item object. Auth: bearer ("Authorization: Bearer <secret>"), basic, or a header key; a wrong
// or missing credential gets 401.
//
// Faults (each a window of time from Start()):
//   outage     503 with Retry-After
//   throttle   429 with Retry-After
//   slow       answers after a delay (longer than the poller's timeout: a hang)
//   malformed  200 with a page cut in half (not JSON)
//   silent     200 with an empty page: the partner has nothing new (the feed does not advance)
// Thread-safe. The server never blocks an io thread: slow answers wait on a timer thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"

namespace firehose::sim {

enum class PollFaultKind : std::uint8_t { kOutage, kThrottle, kSlow, kMalformed, kSilent };
std::string_view PollFaultName(PollFaultKind kind);

struct PollFaultWindow {
  PollFaultKind kind = PollFaultKind::kOutage;
  std::chrono::milliseconds begin{0};  // from Start()
  std::chrono::milliseconds end{0};
  std::int64_t retry_after_s = 1;           // outage, throttle
  std::chrono::milliseconds delay{10'000};  // slow
};

struct PollFeed {
  PartnerId partner;
  PollPagination pagination = PollPagination::kCursor;
  PollAuthKind auth = PollAuthKind::kNone;
  std::string auth_header;         // kHeader
  std::string basic_user;          // kBasic
  std::string secret;              // token, password or header value
  std::vector<std::string> items;  // each a JSON value (an object in since mode)
  std::vector<PollFaultWindow> faults;
};

struct PollServerOptions {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;      // 0: any free port
  std::int64_t page_size_max = 1000;  // a larger limit is clamped
};

// What the server saw for one partner.
struct PollFeedStats {
  std::int64_t requests = 0;
  std::int64_t pages = 0;                       // 200 answers with a page
  std::int64_t items_served = 0;                // items in those pages, repeats included
  std::size_t served_end = 0;                   // the furthest feed position any page reached
  std::map<std::string, std::int64_t> answers;  // "200", "401", "429", "503", "malformed", ...
  std::vector<std::chrono::steady_clock::time_point> request_times;
};

class PollServer {
 public:
  PollServer(std::vector<PollFeed> feeds, PollServerOptions options);
  ~PollServer();
  PollServer(const PollServer&) = delete;
  PollServer& operator=(const PollServer&) = delete;

  Status Start();
  void Stop();
  std::uint16_t port() const;
  // http://host:port/poll/<partner>
  std::string UrlFor(const PartnerId& partner) const;

  PollFeedStats Stats(const PartnerId& partner) const;
  // Whether some page reached the end of every feed (the poller has seen every item).
  bool AllServed() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The item a feed serves in since mode: `item` (a JSON object) with "seq":<position> inserted
// as its first key.
std::string WithSequence(std::string_view item, std::size_t position);

}  // namespace firehose::sim
