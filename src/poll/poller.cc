#include "poll/poller.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <optional>
#include <random>

#include "core/arrival_id.h"
#include "core/metrics.h"
#include "core/time.h"
#include "poll/cursor_store.h"
#include "poll/page.h"
#include "poll/retry.h"

namespace firehose::poll {

namespace {

constexpr std::string_view kStage = "poll";
// The loop wakes at least this often to start due partners even when libcurl has nothing to say.
constexpr std::chrono::milliseconds kIdleWakeMax{200};

enum class Phase : std::uint8_t { kWaiting, kFetching, kAppending };

using Clock = std::chrono::steady_clock;

Labels PartnerLabels(const PartnerId& partner) {
  return {{"stage", std::string(kStage)}, {"partner", partner.str()}};
}

}  // namespace

// One poll partner, owned by the polling thread (except `state`, guarded by Shared::mutex).
struct PartnerRun {
  PartnerRun(const PartnerConfig& partner_config, const Limits& limits)
      : config(&partner_config),
        poll(&*partner_config.poll),
        breaker(poll->breaker_failures, std::chrono::milliseconds(poll->breaker_open_ms)),
        received(Metrics().CounterFor("firehose_received_total", PartnerLabels(partner_config.id))),
        accepted(Metrics().CounterFor("firehose_accepted_total", PartnerLabels(partner_config.id))),
        breaker_open(Metrics().GaugeFor("firehose_poll_breaker_open",
                                        {{"partner", partner_config.id.str()}})),
        failures_gauge(Metrics().GaugeFor("firehose_poll_consecutive_failures",
                                          {{"partner", partner_config.id.str()}})) {
    split_items = partner_config.mapping->batch_pointer.empty();
    page_size = poll->page_size;
    if (!split_items) page_size = std::min<std::int64_t>(page_size, limits.batch_events_max);
  }
  ~PartnerRun() {
    if (headers != nullptr) curl_slist_free_all(headers);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }

  const PartnerConfig* config;
  const PollConfig* poll;
  bool split_items = false;  // one record per item (the mapping reads single events)
  std::int64_t page_size = 0;
  CircuitBreaker breaker;
  Phase phase = Phase::kWaiting;
  Clock::time_point next_due{};

  // The transfer.
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string url;
  std::string body;
  std::string retry_after;
  bool body_too_large = false;
  std::uint64_t body_bytes_max = 0;

  // The saved cursor and the page being appended.
  std::string cursor;
  std::uint64_t pages = 0;
  std::size_t appends_pending = 0;
  std::optional<Status> append_error;
  std::string page_cursor;  // the cursor to save once the page is durable
  bool page_has_more = false;
  std::size_t page_items = 0;

  Counter& received;
  Counter& accepted;
  Gauge& breaker_open;
  Gauge& failures_gauge;

  PartnerPollState state;  // guarded by Shared::mutex
};

struct Poller::Shared {
  Shared(const Config& config_in, Queue& queue_in, PollFailureObserver on_failure_in)
      : config(config_in),
        queue(queue_in),
        on_failure(std::move(on_failure_in)),
        cursors(config_in.data_dir / "poll") {}

  const Config& config;
  Queue& queue;
  PollFailureObserver on_failure;
  CursorStore cursors;
  CURLM* multi = nullptr;
  std::mt19937_64 random{std::random_device{}()};
  std::vector<std::unique_ptr<PartnerRun>> partners;
  std::atomic<bool> stop{false};
  std::size_t transfers_active = 0;

  // Queue callbacks hand their results to the polling thread through this.
  mutable std::mutex mutex;
  std::condition_variable appends_done;
  struct Completion {
    PartnerRun* partner;
    Status status;
  };
  std::vector<Completion> completions;
  std::size_t appends_in_flight = 0;

  Counter& WrittenEvents() {
    static Counter& counter =
        Metrics().CounterFor("firehose_written_events_total", {{"stage", std::string(kStage)}});
    return counter;
  }
  Counter& WrittenBytes() {
    static Counter& counter =
        Metrics().CounterFor("firehose_written_bytes_total", {{"stage", std::string(kStage)}});
    return counter;
  }

  void Run();
  void StartDueTransfers(Clock::time_point now);
  void StartTransfer(PartnerRun& run);
  void OnTransferDone(PartnerRun& run, CURLcode code);
  void OnPage(PartnerRun& run, long http_status);
  void AppendPage(PartnerRun& run, std::vector<QueueRecord> records);
  void DrainCompletions();
  void FinishPage(PartnerRun& run);
  void OnFailure(PartnerRun& run, std::string_view reason, const std::string& detail,
                 std::optional<std::chrono::seconds> retry_after = std::nullopt);
  void Publish(PartnerRun& run);
  Clock::time_point NextWake(Clock::time_point now) const;
};

namespace {

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* run = static_cast<PartnerRun*>(user);
  const std::size_t bytes = size * count;
  if (run->body.size() + bytes > run->body_bytes_max) {
    run->body_too_large = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  run->body.append(data, bytes);
  return bytes;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* run = static_cast<PartnerRun*>(user);
  const std::size_t bytes = size * count;
  std::string_view line(data, bytes);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string lower(line.substr(0, kName.size()));
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == kName) {
      line.remove_prefix(kName.size());
      while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
      run->retry_after = std::string(line);
    }
  }
  return bytes;
}

std::string_view TransportReason(CURLcode code, bool too_large) {
  if (too_large || code == CURLE_FILESIZE_EXCEEDED) return "too_large";
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout";
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "connect";
    default:
      return "network";
  }
}

}  // namespace

Poller::Poller(const Config& config, Queue& queue, PollFailureObserver on_failure)
    : shared_(std::make_unique<Shared>(config, queue, std::move(on_failure))) {
  for (const PartnerConfig& partner : config.partners) {
    if (partner.mode != PartnerMode::kPoll || !partner.poll || !partner.mapping) continue;
    shared_->partners.push_back(std::make_unique<PartnerRun>(partner, config.limits));
  }
}

Poller::~Poller() { Stop(); }

std::size_t Poller::partner_count() const { return shared_->partners.size(); }

Status Poller::Start() {
  FH_RETURN_IF_ERROR(shared_->cursors.Open());
  for (auto& run : shared_->partners) {
    const Mapping& mapping = *run->config->mapping;
    if (!mapping.batch_pointer.empty() && mapping.batch_pointer != run->poll->items_pointer) {
      return InvalidArgument("poll partner " + run->config->id.str() +
                             ": its mapping reads a batch at " + mapping.batch_pointer +
                             " but its pages hold items at " + run->poll->items_pointer +
                             "; use a single-event mapping (items are then appended one by one) "
                             "or a batch pointer equal to poll.items");
    }
    FH_ASSIGN_OR_RETURN(const std::optional<SavedCursor> saved,
                        shared_->cursors.Load(run->config->id));
    if (saved) {
      run->cursor = saved->value;
      run->pages = saved->pages;
    }
    run->easy = curl_easy_init();
    if (run->easy == nullptr) return Internal("curl_easy_init failed");
    run->body_bytes_max =
        static_cast<std::uint64_t>(shared_->config.limits.poll_response_bytes_max);
    run->state.partner_id = run->config->id.str();
    run->state.cursor = run->cursor;
    run->next_due = Clock::now();
  }
  shared_->multi = curl_multi_init();
  if (shared_->multi == nullptr) return Internal("curl_multi_init failed");
  spdlog::info("poller: {} partners, at most {} requests in flight", shared_->partners.size(),
               shared_->config.limits.poll_concurrency_max);
  thread_ = std::thread([shared = shared_.get()] { shared->Run(); });
  return Status::Ok();
}

void Poller::Stop() {
  if (!thread_.joinable()) return;
  shared_->stop = true;
  curl_multi_wakeup(shared_->multi);
  thread_.join();
}

std::vector<PartnerPollState> Poller::States() const {
  std::lock_guard lock(shared_->mutex);
  std::vector<PartnerPollState> states;
  for (const auto& run : shared_->partners) states.push_back(run->state);
  return states;
}

void Poller::Shared::Run() {
  while (!stop.load()) {
    DrainCompletions();
    StartDueTransfers(Clock::now());
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      PartnerRun* run = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &run);
      const CURLcode code = message->data.result;
      curl_multi_remove_handle(multi, message->easy_handle);
      --transfers_active;
      OnTransferDone(*run, code);
    }
    const auto now = Clock::now();
    const auto wake = NextWake(now);
    long curl_timeout_ms = -1;
    curl_multi_timeout(multi, &curl_timeout_ms);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now);
    if (curl_timeout_ms >= 0) wait = std::min(wait, std::chrono::milliseconds(curl_timeout_ms));
    wait = std::clamp(wait, std::chrono::milliseconds(0), kIdleWakeMax);
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
  }
  // Appends in flight hold pointers to partner runs: wait for their callbacks.
  std::unique_lock lock(mutex);
  appends_done.wait(lock, [this] { return appends_in_flight == 0; });
  lock.unlock();
  for (auto& run : partners) {
    if (run->phase == Phase::kFetching) curl_multi_remove_handle(multi, run->easy);
  }
  curl_multi_cleanup(multi);
  multi = nullptr;
}

Clock::time_point Poller::Shared::NextWake(Clock::time_point now) const {
  Clock::time_point wake = now + kIdleWakeMax;
  for (const auto& run : partners) {
    if (run->phase != Phase::kWaiting) continue;
    Clock::time_point due = run->next_due;
    if (run->breaker.StateAt(now) == CircuitBreaker::State::kOpen) {
      due = std::max(due, run->breaker.open_until());
    }
    wake = std::min(wake, due);
  }
  return wake;
}

void Poller::Shared::StartDueTransfers(Clock::time_point now) {
  const auto limit = static_cast<std::size_t>(config.limits.poll_concurrency_max);
  if (transfers_active >= limit) return;
  std::vector<PartnerRun*> due;
  for (auto& run : partners) {
    if (run->phase == Phase::kWaiting && run->next_due <= now &&
        run->breaker.StateAt(now) != CircuitBreaker::State::kOpen) {
      due.push_back(run.get());
    }
  }
  // The longest-waiting first, so that a busy partner paging through a backlog cannot starve
  // the others of slots.
  std::sort(due.begin(), due.end(),
            [](const PartnerRun* a, const PartnerRun* b) { return a->next_due < b->next_due; });
  for (PartnerRun* run : due) {
    if (transfers_active >= limit) break;
    if (!run->breaker.Allow(now)) continue;
    StartTransfer(*run);
  }
}

void Poller::Shared::StartTransfer(PartnerRun& run) {
  const PollConfig& poll = *run.poll;
  run.body.clear();
  run.retry_after.clear();
  run.body_too_large = false;
  run.url = poll.url;
  run.url += poll.url.find('?') == std::string::npos ? '?' : '&';
  run.url += poll.limit_param + "=" + std::to_string(run.page_size);
  if (!run.cursor.empty()) {
    char* escaped =
        curl_easy_escape(run.easy, run.cursor.data(), static_cast<int>(run.cursor.size()));
    run.url += "&" + poll.cursor_param + "=" + escaped;
    curl_free(escaped);
  }
  CURL* easy = run.easy;
  curl_easy_reset(easy);
  curl_easy_setopt(easy, CURLOPT_URL, run.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PRIVATE, &run);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(config.limits.poll_timeout_ms));
  curl_easy_setopt(
      easy, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(
          std::min(config.limits.poll_timeout_ms, config.limits.poll_connect_timeout_ms)));
  curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(config.limits.poll_response_bytes_max));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &run);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &run);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "firehose-poller/1");
  if (run.headers != nullptr) {
    curl_slist_free_all(run.headers);
    run.headers = nullptr;
  }
  run.headers = curl_slist_append(run.headers, "Accept: application/json");
  switch (poll.auth) {
    case PollAuthKind::kNone:
      break;
    case PollAuthKind::kBearer:
      run.headers = curl_slist_append(
          run.headers, ("Authorization: Bearer " + std::string(poll.auth_secret.Reveal())).c_str());
      break;
    case PollAuthKind::kHeader:
      run.headers = curl_slist_append(
          run.headers, (poll.auth_header + ": " + std::string(poll.auth_secret.Reveal())).c_str());
      break;
    case PollAuthKind::kBasic:
      curl_easy_setopt(easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(easy, CURLOPT_USERNAME, poll.basic_user.c_str());
      curl_easy_setopt(easy, CURLOPT_PASSWORD, std::string(poll.auth_secret.Reveal()).c_str());
      break;
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, run.headers);
  run.phase = Phase::kFetching;
  curl_multi_add_handle(multi, easy);
  ++transfers_active;
}

void Poller::Shared::OnTransferDone(PartnerRun& run, CURLcode code) {
  run.phase = Phase::kWaiting;
  if (code != CURLE_OK) {
    OnFailure(run, TransportReason(code, run.body_too_large), curl_easy_strerror(code));
    return;
  }
  long http_status = 0;
  curl_easy_getinfo(run.easy, CURLINFO_RESPONSE_CODE, &http_status);
  if (http_status >= 200 && http_status < 300) {
    OnPage(run, http_status);
    return;
  }
  std::optional<std::chrono::seconds> retry_after;
  if ((http_status == 429 || http_status == 503) && !run.retry_after.empty()) {
    retry_after = ParseRetryAfter(run.retry_after, NowUs().value() / 1'000'000);
  }
  const std::string_view reason = http_status == 429   ? "http_429"
                                  : http_status >= 500 ? "http_5xx"
                                                       : "http_4xx";
  OnFailure(run, reason, "HTTP " + std::to_string(http_status), retry_after);
}

void Poller::Shared::OnPage(PartnerRun& run, long /*http_status*/) {
  run.received.Add();
  auto page = ParsePage(run.body, *run.poll, run.split_items, config.limits.json_depth_max);
  if (!page.ok()) {
    OnFailure(run, "malformed", page.status().message());
    return;
  }
  if (!run.split_items &&
      page->item_count > static_cast<std::size_t>(config.limits.batch_events_max)) {
    OnFailure(run, "too_large",
              std::to_string(page->item_count) + " items in one page, over batch_events_max");
    return;
  }
  const std::string previous = run.cursor;
  run.page_cursor = run.cursor;
  if (page->next_cursor) run.page_cursor = *page->next_cursor;
  if (page->last_since) run.page_cursor = *page->last_since;
  const bool advanced = run.page_cursor != previous;
  // Without has_more, a page that moved the cursor may have a successor; a page that did not
  // move it cannot be followed at once without polling the same page in a loop.
  run.page_has_more = page->has_more.value_or(page->item_count > 0) && advanced;
  run.page_items = page->item_count;

  std::vector<QueueRecord> records;
  char* ip = nullptr;
  curl_easy_getinfo(run.easy, CURLINFO_PRIMARY_IP, &ip);
  const TimestampUs now = NowUs();
  auto make_record = [&](std::string body) {
    QueueRecord record;
    record.arrival_id = NewArrivalId(now);
    record.partner_id = run.config->id;
    record.source = ArrivalSource::kPoll;
    record.received_at = now;
    record.remote_address = ip != nullptr ? ip : "";
    record.body = std::move(body);
    return record;
  };
  if (page->item_count == 0) {
    // Nothing to append: the cursor (if it moved) can be saved at once.
  } else if (run.split_items) {
    for (std::string_view item : page->items) records.push_back(make_record(std::string(item)));
  } else {
    records.push_back(make_record(std::move(run.body)));
  }
  for (const QueueRecord& record : records) {
    if (EncodedRecordSize(record) > static_cast<std::size_t>(config.limits.record_bytes_max)) {
      // Nothing of the page is appended and the cursor stays: the item is not lost, and the
      // partner's polling stops at it (failures counted, alerts fire) until the limit fits it.
      OnFailure(run, "too_large",
                "a record of " + std::to_string(record.body.size()) +
                    " bytes is over record_bytes_max (" +
                    (run.split_items ? "one item is that large: raise record_bytes_max"
                                     : "the whole page is one record: lower page_size") +
                    ")");
      return;
    }
  }
  AppendPage(run, std::move(records));
}

void Poller::Shared::AppendPage(PartnerRun& run, std::vector<QueueRecord> records) {
  run.phase = Phase::kAppending;
  run.append_error.reset();
  run.appends_pending = records.size();
  if (records.empty()) {
    FinishPage(run);
    return;
  }
  {
    std::lock_guard lock(mutex);
    appends_in_flight += records.size();
  }
  std::uint64_t bytes = 0;
  for (QueueRecord& record : records) {
    bytes += record.body.size();
    queue.Append(std::move(record), [this, partner = &run](Result<QueueOffset> result) {
      std::lock_guard lock(mutex);
      completions.push_back({partner, result.ok() ? Status::Ok() : result.status()});
      --appends_in_flight;
      appends_done.notify_all();
      if (multi != nullptr) curl_multi_wakeup(multi);
    });
  }
  WrittenBytes().Add(bytes);
}

void Poller::Shared::DrainCompletions() {
  std::vector<Completion> done;
  {
    std::lock_guard lock(mutex);
    done.swap(completions);
  }
  for (Completion& completion : done) {
    PartnerRun& run = *completion.partner;
    if (!completion.status.ok() && !run.append_error) run.append_error = completion.status;
    if (--run.appends_pending == 0) FinishPage(run);
  }
}

void Poller::Shared::FinishPage(PartnerRun& run) {
  run.phase = Phase::kWaiting;
  if (run.append_error) {
    const bool full = run.append_error->code() == StatusCode::kResourceExhausted ||
                      run.append_error->code() == StatusCode::kUnavailable;
    OnFailure(run, full ? "queue_full" : "queue_error", run.append_error->ToString());
    return;
  }
  const bool committed = run.page_cursor != run.cursor || run.page_items > 0;
  if (committed) {
    SavedCursor saved{run.page_cursor, run.pages + 1, NowUs()};
    const Status status = cursors.Save(run.config->id, saved);
    if (!status.ok()) {
      // The page is durable: re-polling it gives duplicates, which the ledger removes.
      OnFailure(run, "cursor_error", status.ToString());
      return;
    }
    run.cursor = run.page_cursor;
    ++run.pages;
    run.accepted.Add();
    WrittenEvents().Add(run.page_items);
  }
  run.breaker.OnSuccess();
  const auto now = Clock::now();
  run.next_due = run.page_has_more ? now : now + std::chrono::milliseconds(run.poll->interval_ms);
  {
    std::lock_guard lock(mutex);
    if (committed) run.state.pages_committed += 1;
    run.state.items_appended += run.page_items;
    run.state.cursor = run.cursor;
    run.state.caught_up = !run.page_has_more;
    run.state.last_success_unix_ms = NowUs().value() / 1000;
  }
  Publish(run);
}

void Poller::Shared::OnFailure(PartnerRun& run, std::string_view reason, const std::string& detail,
                               std::optional<std::chrono::seconds> retry_after) {
  run.phase = Phase::kWaiting;
  const auto now = Clock::now();
  Metrics()
      .CounterFor("firehose_rejected_total", {{"stage", std::string(kStage)},
                                              {"partner", run.config->id.str()},
                                              {"reason", std::string(reason)}})
      .Add();
  if (on_failure) on_failure(run.config->id.view(), reason);
  run.breaker.OnFailure(now);
  auto delay = BackoffDelay(run.breaker.consecutive_failures() - 1, run.poll->backoff_initial_ms,
                            run.poll->backoff_max_ms, random);
  if (retry_after) {
    const auto cap = std::chrono::seconds(config.limits.poll_retry_after_max_s);
    delay = std::max<std::chrono::milliseconds>(delay, std::min(*retry_after, cap));
  }
  run.next_due = now + delay;
  if (run.breaker.StateAt(now) == CircuitBreaker::State::kOpen) {
    run.next_due = std::max(run.next_due, run.breaker.open_until());
  }
  spdlog::warn("poll {}: {} ({}); retry in {} ms{}", run.config->id.str(), reason, detail,
               std::chrono::duration_cast<std::chrono::milliseconds>(run.next_due - now).count(),
               run.breaker.StateAt(now) == CircuitBreaker::State::kOpen ? ", breaker open" : "");
  {
    std::lock_guard lock(mutex);
    run.state.failures += 1;
    run.state.last_failure_reason = std::string(reason);
  }
  Publish(run);
}

void Poller::Shared::Publish(PartnerRun& run) {
  const auto state = run.breaker.StateAt(Clock::now());
  run.breaker_open.Set(state == CircuitBreaker::State::kOpen ? 1 : 0);
  run.failures_gauge.Set(static_cast<double>(run.breaker.consecutive_failures()));
  std::lock_guard lock(mutex);
  run.state.breaker = std::string(BreakerStateName(state));
  run.state.consecutive_failures = run.breaker.consecutive_failures();
}

}  // namespace firehose::poll
