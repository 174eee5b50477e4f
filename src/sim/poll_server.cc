#include "sim/poll_server.h"

#include <charconv>
#include <condition_variable>
#include <mutex>
#include <queue>
#include <thread>

#include "edge/http_server.h"
#include "edge/signature.h"

namespace firehose::sim {

namespace {

using Clock = std::chrono::steady_clock;

std::string_view QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t equals = pair.find('=');
    if (pair.substr(0, equals) == name) {
      return equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::optional<std::size_t> ParsePosition(std::string_view text) {
  std::size_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool Authorized(const PollFeed& feed, const edge::HttpRequest& request) {
  switch (feed.auth) {
    case PollAuthKind::kNone:
      return true;
    case PollAuthKind::kBearer:
      return request.Header("Authorization") == "Bearer " + feed.secret;
    case PollAuthKind::kHeader:
      return request.Header(feed.auth_header) == feed.secret;
    case PollAuthKind::kBasic:
      return request.Header("Authorization") ==
             "Basic " + edge::Base64Encode(feed.basic_user + ":" + feed.secret);
  }
  return false;
}

}  // namespace

std::string_view PollFaultName(PollFaultKind kind) {
  switch (kind) {
    case PollFaultKind::kOutage:
      return "outage";
    case PollFaultKind::kThrottle:
      return "throttle";
    case PollFaultKind::kSlow:
      return "slow";
    case PollFaultKind::kMalformed:
      return "malformed";
    case PollFaultKind::kSilent:
      return "silent";
  }
  return "outage";
}

std::string WithSequence(std::string_view item, std::size_t position) {
  FH_CHECK(!item.empty() && item.front() == '{', "since-mode items are JSON objects");
  std::string out = "{\"seq\":" + std::to_string(position);
  const std::string_view rest = item.substr(1);
  const bool empty_object = rest.find_first_not_of(" \t\r\n") != std::string_view::npos &&
                            rest[rest.find_first_not_of(" \t\r\n")] == '}';
  if (!empty_object) out += ',';
  out += rest;
  return out;
}

struct PollServer::State {
  std::vector<PollFeed> feeds;
  PollServerOptions options;
  std::unique_ptr<edge::HttpServer> server;
  Clock::time_point started{};

  mutable std::mutex mutex;
  std::map<std::string, PollFeedStats, std::less<>> stats;

  // Slow answers wait here (not on an io thread).
  struct Delayed {
    Clock::time_point due;
    edge::Responder responder;
    edge::HttpResponse response;
    bool operator>(const Delayed& other) const { return due > other.due; }
  };
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> delayed;
  std::condition_variable delayed_changed;
  bool stopping = false;
  std::thread delayer;

  const PollFeed* FindFeed(std::string_view partner) const {
    for (const PollFeed& feed : feeds) {
      if (feed.partner.view() == partner) return &feed;
    }
    return nullptr;
  }

  const PollFaultWindow* ActiveFault(const PollFeed& feed, Clock::time_point now) const {
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - started);
    for (const PollFaultWindow& window : feed.faults) {
      if (elapsed >= window.begin && elapsed < window.end) return &window;
    }
    return nullptr;
  }

  void Count(std::string_view partner, std::string answer, Clock::time_point now) {
    std::lock_guard lock(mutex);
    PollFeedStats& feed_stats = stats[std::string(partner)];
    ++feed_stats.requests;
    ++feed_stats.answers[answer];
    feed_stats.request_times.push_back(now);
  }

  edge::HttpResponse Page(const PollFeed& feed, const edge::HttpRequest& request, bool silent,
                          std::string* answer) {
    const std::string_view query = request.query();
    const auto limit = ParsePosition(QueryParam(query, "limit")).value_or(100);
    const std::size_t page_size =
        std::clamp<std::size_t>(limit, 1, static_cast<std::size_t>(options.page_size_max));
    std::size_t begin = 0;
    if (feed.pagination == PollPagination::kCursor) {
      const std::string_view cursor = QueryParam(query, "cursor");
      if (!cursor.empty()) {
        const auto position =
            cursor.starts_with("c") ? ParsePosition(cursor.substr(1)) : std::nullopt;
        if (!position || *position > feed.items.size()) {
          *answer = "400";
          return edge::ErrorResponse(400, "bad_cursor", "unknown cursor");
        }
        begin = *position;
      }
    } else {
      const std::string_view since = QueryParam(query, "since");
      if (!since.empty()) {
        const auto position = ParsePosition(since);
        if (!position) {
          *answer = "400";
          return edge::ErrorResponse(400, "bad_since", "since must be a sequence number");
        }
        begin = std::min(*position, feed.items.size());  // seq n is position n-1
      }
    }
    const std::size_t end = silent ? begin : std::min(feed.items.size(), begin + page_size);
    std::string body = "{\"data\":[";
    for (std::size_t i = begin; i < end; ++i) {
      if (i > begin) body += ',';
      body += feed.pagination == PollPagination::kSince ? WithSequence(feed.items[i], i + 1)
                                                        : feed.items[i];
    }
    body += "]";
    if (feed.pagination == PollPagination::kCursor) {
      body += ",\"next_cursor\":\"c" + std::to_string(end) + "\"";
    }
    body += std::string(",\"has_more\":") + (end < feed.items.size() && !silent ? "true" : "false");
    body += "}";
    {
      std::lock_guard lock(mutex);
      PollFeedStats& feed_stats = stats[feed.partner.str()];
      ++feed_stats.pages;
      feed_stats.items_served += static_cast<std::int64_t>(end - begin);
      feed_stats.served_end = std::max(feed_stats.served_end, end);
    }
    *answer = "200";
    return edge::JsonResponse(200, std::move(body));
  }

  void Handle(edge::HttpRequest request, edge::Responder responder) {
    const auto now = Clock::now();
    const std::string_view partner = request.path_suffix();
    const PollFeed* feed = FindFeed(partner);
    if (feed == nullptr) {
      responder.Send(edge::ErrorResponse(404, "unknown_partner", "no such poll feed"));
      return;
    }
    if (!Authorized(*feed, request)) {
      Count(partner, "401", now);
      responder.Send(edge::ErrorResponse(401, "unauthorized", "bad or missing credentials"));
      return;
    }
    const PollFaultWindow* fault = ActiveFault(*feed, now);
    if (fault != nullptr &&
        (fault->kind == PollFaultKind::kOutage || fault->kind == PollFaultKind::kThrottle)) {
      const bool outage = fault->kind == PollFaultKind::kOutage;
      edge::HttpResponse response =
          edge::ErrorResponse(outage ? 503 : 429, outage ? "unavailable" : "rate_limited",
                              outage ? "partner outage (simulated)" : "slow down (simulated)");
      response.headers.push_back({"Retry-After", std::to_string(fault->retry_after_s)});
      Count(partner, outage ? "503" : "429", now);
      responder.Send(std::move(response));
      return;
    }
    std::string answer;
    const bool silent = fault != nullptr && fault->kind == PollFaultKind::kSilent;
    const bool malformed = fault != nullptr && fault->kind == PollFaultKind::kMalformed;
    edge::HttpResponse response;
    if (malformed) {
      response = edge::JsonResponse(200, "{\"data\":[{\"cut\":");
      answer = "malformed";
    } else {
      response = Page(*feed, request, silent, &answer);
    }
    Count(partner,
          fault != nullptr && fault->kind == PollFaultKind::kSlow ? "slow_" + answer : answer, now);
    if (fault != nullptr && fault->kind == PollFaultKind::kSlow) {
      std::lock_guard lock(mutex);
      delayed.push({now + fault->delay, responder, std::move(response)});
      delayed_changed.notify_all();
      return;
    }
    responder.Send(std::move(response));
  }

  void RunDelayer() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      if (delayed.empty()) {
        delayed_changed.wait(lock);
        continue;
      }
      // A copy: wait_until reads its deadline while the lock is released, when a push from an
      // io thread may reallocate the queue's storage under a reference to top().
      const Clock::time_point due = delayed.top().due;
      if (Clock::now() < due) {
        delayed_changed.wait_until(lock, due);
        continue;
      }
      Delayed next = delayed.top();
      delayed.pop();
      lock.unlock();
      next.responder.Send(std::move(next.response));
      lock.lock();
    }
  }
};

PollServer::PollServer(std::vector<PollFeed> feeds, PollServerOptions options)
    : state_(std::make_unique<State>()) {
  state_->feeds = std::move(feeds);
  state_->options = std::move(options);
  for (const PollFeed& feed : state_->feeds) state_->stats[feed.partner.str()];
}

PollServer::~PollServer() { Stop(); }

Status PollServer::Start() {
  edge::HttpServerOptions options;
  options.name = "sim_poll";
  options.listen_host = state_->options.listen_host;
  options.listen_port = state_->options.listen_port;
  options.io_threads = 1;
  state_->server = std::make_unique<edge::HttpServer>(options);
  State* state = state_.get();
  state_->server->HandlePrefix("GET", "/poll/",
                               [state](edge::HttpRequest request, edge::Responder responder) {
                                 state->Handle(std::move(request), std::move(responder));
                               });
  state_->started = Clock::now();
  FH_RETURN_IF_ERROR(state_->server->Start());
  state_->delayer = std::thread([state] { state->RunDelayer(); });
  return Status::Ok();
}

void PollServer::Stop() {
  if (!state_->server) return;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    state_->delayed_changed.notify_all();
  }
  if (state_->delayer.joinable()) state_->delayer.join();
  {
    std::lock_guard lock(state_->mutex);
    while (!state_->delayed.empty()) state_->delayed.pop();  // their clients see the close
  }
  state_->server->Stop(std::chrono::milliseconds(0));
  state_->server.reset();
}

std::uint16_t PollServer::port() const { return state_->server ? state_->server->port() : 0; }

std::string PollServer::UrlFor(const PartnerId& partner) const {
  return "http://" + state_->options.listen_host + ":" + std::to_string(port()) + "/poll/" +
         partner.str();
}

PollFeedStats PollServer::Stats(const PartnerId& partner) const {
  std::lock_guard lock(state_->mutex);
  const auto found = state_->stats.find(partner.str());
  return found == state_->stats.end() ? PollFeedStats() : found->second;
}

bool PollServer::AllServed() const {
  std::lock_guard lock(state_->mutex);
  for (const PollFeed& feed : state_->feeds) {
    const auto found = state_->stats.find(feed.partner.str());
    if (found == state_->stats.end() || found->second.served_end < feed.items.size()) return false;
  }
  return true;
}

}  // namespace firehose::sim
