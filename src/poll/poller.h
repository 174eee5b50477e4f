// The poller (DESIGN §3, docs/poll.md): fetches pages from every poll partner's API and appends
// them to the durable queue as arrivals with source = poll.
//
// Design constraints:
//   - One thread drives every partner's transfers through libcurl's multi interface; at most
//     limits.poll_concurrency_max requests are in flight, one per partner at a time, each bounded
//     by limits.poll_timeout_ms and its body by limits.poll_response_bytes_max. A slow or dead
//     partner holds one slot for at most the timeout and never blocks another partner's
//     transfer, append or cursor.
//   - A page's records are all durable in the queue before its cursor is saved (cursor_store.h).
//     A crash between the two re-polls the page; a page is never skipped.
//   - A page whose body the partner mapping reads as a batch (mapping.batch == poll.items) is
//     appended as one record holding the page verbatim; otherwise each item is one record
//     holding the item's bytes verbatim. Either way the lake maps it like a webhook arrival.
//   - Failures back off (capped exponential, full jitter), honour Retry-After (on 429 and 503),
//     and open the partner's circuit breaker after breaker_failures in a row; it lets one probe
//     through after breaker_open_ms.
//
// Metrics (stage = "poll", partner = the poll partner), per docs/instrumentation.md:
//   firehose_received_total           pages received (2xx answers)
//   firehose_accepted_total           pages durably appended (and their cursor saved)
//   firehose_rejected_total{reason}   failed polls: timeout, connect, http_429, http_5xx,
//                                     http_4xx, malformed, too_large, queue_full, queue_error,
//                                     cursor_error
//   firehose_written_events_total / firehose_written_bytes_total   items / record bytes appended
//   firehose_poll_breaker_open{partner}          gauge: 1 while the breaker is open
//   firehose_poll_consecutive_failures{partner}  gauge
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "queue/queue.h"

namespace firehose::poll {

// What the ops path and tests may read about one partner. A snapshot: copied under a lock.
struct PartnerPollState {
  std::string partner_id;
  std::string breaker = "closed";  // closed | open | half_open
  std::int64_t consecutive_failures = 0;
  std::uint64_t pages_committed = 0;  // pages appended and cursor saved, this process
  std::uint64_t items_appended = 0;
  std::uint64_t failures = 0;
  std::string last_failure_reason;  // empty if none yet
  std::string cursor;               // the saved cursor / since value
  bool caught_up = false;           // the last page said there is no more
  std::int64_t last_success_unix_ms = 0;
};

// Told of every failed poll request (the ops view counts them as the partner's ingest errors,
// DESIGN §6). Runs on the polling thread: must be cheap and must not block.
using PollFailureObserver = std::function<void(std::string_view partner, std::string_view reason)>;

class Poller {
 public:
  // `config` and `queue` (and whatever `on_failure` uses) must outlive the Poller.
  Poller(const Config& config, Queue& queue, PollFailureObserver on_failure = nullptr);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // Loads every poll partner's cursor and starts the polling thread. Fails if a cursor file
  // is unreadable or a partner's mapping cannot read its pages (batch pointer != items).
  Status Start();
  // Stops the thread: transfers in flight are abandoned (their pages were not appended, so
  // nothing is lost), appends in flight are waited for. Idempotent.
  void Stop();

  std::vector<PartnerPollState> States() const;
  std::size_t partner_count() const;

 private:
  struct Shared;
  std::unique_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace firehose::poll
