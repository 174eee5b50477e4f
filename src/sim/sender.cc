#include "sim/sender.h"

#include <curl/curl.h>
#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/file.h"
#include "core/hex.h"
#include "core/time.h"
#include "edge/signature.h"
#include "sim/random.h"

namespace firehose::sim {

namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::uint64_t kAckFileBytesMax = std::uint64_t{1} << 32;
constexpr std::size_t kProblemBodyChars = 200;

using Clock = std::chrono::steady_clock;

// A wrong key of the same form as the partner's real one (so the header is well-formed and only
// the comparison can fail).
std::string WrongSecret(SignatureScheme scheme) {
  if (scheme == SignatureScheme::kStripe) return "whsec_" + std::string(32, 'W');
  return "whsec_" + edge::Base64Encode("not the partner's key at all!");
}

// The body a tampering proxy would have seen signed: one digit changed.
std::string TamperedCopy(std::string_view body) {
  std::string copy(body);
  const std::size_t digit = copy.find_first_of("0123456789");
  if (digit == std::string::npos) return copy + " ";
  copy[digit] = copy[digit] == '9' ? '0' : static_cast<char>(copy[digit] + 1);
  return copy;
}

// Spreads attempts over time: one slot every 1/R s, shared by every sender thread.
class Pacer {
 public:
  explicit Pacer(double requests_per_second)
      : interval_us_(requests_per_second > 0 ? static_cast<std::int64_t>(1e6 / requests_per_second)
                                             : 0) {}

  void Wait() {
    if (interval_us_ <= 0) return;
    Clock::time_point slot;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const Clock::time_point now = Clock::now();
      if (next_ < now) next_ = now;
      slot = next_;
      next_ += std::chrono::microseconds(interval_us_);
    }
    std::this_thread::sleep_until(slot);
  }

 private:
  const std::int64_t interval_us_;
  std::mutex mutex_;
  Clock::time_point next_ = Clock::now();
};

// Appends acknowledgement lines; one write(2) per line so that a killed run leaves whole lines.
class AckWriter {
 public:
  Status Open(const std::filesystem::path& path) {
    if (path.empty()) return Status::Ok();
    FH_ASSIGN_OR_RETURN(fd_, OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644));
    return Status::Ok();
  }
  Status Append(const AckLine& line) {
    if (!fd_.valid()) return Status::Ok();
    const std::string text = FormatAckLine(line);
    std::lock_guard<std::mutex> lock(mutex_);
    return WriteAll(fd_.get(), text, "sim.acks.write");
  }
  Status Close() {
    if (!fd_.valid()) return Status::Ok();
    FH_RETURN_IF_ERROR(SyncData(fd_.get(), "sim.acks.fsync"));
    return fd_.Close();
  }

 private:
  FileDescriptor fd_;
  std::mutex mutex_;
};

// What one HTTP attempt gave.
struct Attempt {
  CURLcode curl_code = CURLE_OK;
  long http_status = 0;
  std::string body;
  std::int64_t retry_after_s = -1;  // -1: none
  int requests_written = 0;         // request heads curl sent (more than one: it resent by itself)
};

std::size_t CollectBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t bytes = size * count;
  const std::size_t room = kResponseBytesMax > body->size() ? kResponseBytesMax - body->size() : 0;
  body->append(data, std::min(bytes, room));
  return bytes;
}

// Retry-After is delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
std::int64_t ParseRetryAfter(std::string value) {
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.pop_back();
  }
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  if (value.empty()) return -1;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return value.size() > 9 ? 999'999'999 : std::stoll(value);
  }
  const time_t when = curl_getdate(value.c_str(), nullptr);
  if (when < 0) return -1;
  const std::int64_t delta = static_cast<std::int64_t>(when) - NowUs().value() / kMicrosPerSecond;
  return std::max<std::int64_t>(0, delta);
}

std::size_t CollectHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* attempt = static_cast<Attempt*>(user);
  const std::size_t bytes = size * count;
  const std::string_view line(data, bytes);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (std::size_t i = 0; i < kName.size() && match; ++i) {
      match = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i]))) == kName[i];
    }
    if (match) attempt->retry_after_s = ParseRetryAfter(std::string(line.substr(kName.size())));
  }
  return bytes;
}

// libcurl silently resends a request once when a reused keep-alive connection turns out to be
// dead; the server may have stored the first copy. Counting request heads is how we see it.
int CountRequestHeads(CURL*, curl_infotype type, char*, std::size_t, void* user) {
  if (type == CURLINFO_HEADER_OUT) ++static_cast<Attempt*>(user)->requests_written;
  return 0;
}

// Whether a failed attempt may have delivered the request: only failures before a connection
// exists are sure not to have.
bool MayHaveReachedServer(CURLcode code) {
  return code != CURLE_COULDNT_CONNECT && code != CURLE_COULDNT_RESOLVE_HOST &&
         code != CURLE_COULDNT_RESOLVE_PROXY && code != CURLE_URL_MALFORMAT;
}

std::string AnswerName(const Attempt& attempt) {
  if (attempt.curl_code == CURLE_OK) return std::to_string(attempt.http_status);
  if (attempt.curl_code == CURLE_OPERATION_TIMEDOUT) return "timeout";
  if (attempt.curl_code == CURLE_COULDNT_CONNECT) return "connect_error";
  return "network_error";
}

bool Retryable(long status) { return status == 408 || status == 429 || status >= 500; }

class Sender {
 public:
  Sender(const Fleet& fleet, const Plan& plan, const SenderOptions& options)
      : fleet_(fleet), plan_(plan), options_(options), pacer_(options.requests_per_second) {
    report_.results.resize(plan.sends.size());
  }

  Result<SendReport> Run() {
    FH_RETURN_IF_ERROR(Validate());
    FH_RETURN_IF_ERROR(acks_.Open(options_.acks_path));
    static const CURLcode kGlobalInit = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (kGlobalInit != CURLE_OK) return Internal("curl_global_init failed");
    std::vector<CURL*> handles(static_cast<std::size_t>(options_.concurrency));
    for (CURL*& handle : handles) {
      handle = curl_easy_init();
      if (handle == nullptr) return Internal("curl_easy_init failed");
    }
    const Clock::time_point start = Clock::now();
    std::thread progress;
    if (options_.progress) progress = std::thread([this] { ShowProgress(); });
    for (const PhaseRange& phase : Phases(plan_)) RunPhase(phase, handles);
    {
      std::lock_guard<std::mutex> lock(progress_mutex_);
      done_ = true;
    }
    progress_wake_.notify_all();
    if (progress.joinable()) progress.join();
    for (CURL* handle : handles) curl_easy_cleanup(handle);
    report_.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    FH_RETURN_IF_ERROR(acks_.Close());
    Tally();
    return std::move(report_);
  }

 private:
  Status Validate() const {
    if (!options_.target.starts_with("http://") && !options_.target.starts_with("https://")) {
      return InvalidArgument("--target must be an http:// or https:// URL, not '" +
                             options_.target + "'");
    }
    if (options_.concurrency < 1 || options_.concurrency > kConcurrencyMax) {
      return InvalidArgument("--concurrency must be in 1.." + std::to_string(kConcurrencyMax));
    }
    if (options_.requests_per_second < 0) return InvalidArgument("--rate must not be negative");
    return Status::Ok();
  }

  void RunPhase(const PhaseRange& phase, const std::vector<CURL*>& handles) {
    std::atomic<std::size_t> next{phase.begin};
    std::vector<std::thread> workers;
    for (CURL* handle : handles) {
      workers.emplace_back([this, handle, &next, &phase] {
        for (std::size_t index = next++; index < phase.end; index = next++) SendOne(handle, index);
      });
    }
    for (std::thread& worker : workers) worker.join();
  }

  void SendOne(CURL* handle, std::size_t index) {
    const PlannedSend& send = plan_.sends[index];
    SendResult& result = report_.results[index];
    if (fleet_.partners[send.partner].polled) {
      // The poll server offers it (poll_feeds.h); it is no webhook.
      resolved_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (send.depends_on >= 0 &&
        report_.results[static_cast<std::size_t>(send.depends_on)].outcome !=
            Outcome::kAcknowledged) {
      result.outcome = Outcome::kSkipped;
      result.problem =
          "not sent: the send it follows (#" + std::to_string(send.depends_on) + ") got no 2xx";
      resolved_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const SimPartner& partner = fleet_.partners[send.partner];
    const std::string body = RenderBody(fleet_, plan_, index);
    const ExpectedAnswer expected = Expect(plan_, index);
    const std::string url = options_.target + "/v1/webhooks/" + partner.id.str();
    SimRandom jitter = SimRandom::Stream(options_.seed, "jitter", index);
    const Clock::time_point first_attempt = Clock::now();
    std::int64_t signed_at_s = -1;
    std::vector<HttpHeader> signature;
    for (;;) {
      // Re-sign only when the signature would be too old to verify when it arrives.
      const std::int64_t now_s = NowUs().value() / kMicrosPerSecond;
      if (signed_at_s < 0 || now_s - signed_at_s > partner.tolerance_s / 2) {
        signature = SignatureHeaders(partner, send, body, now_s);
        signed_at_s = now_s;
      }
      pacer_.Wait();
      const Attempt attempt = Perform(handle, url, body, signature);
      ++result.attempts;
      CountAnswer(attempt);
      if (attempt.requests_written > 1) result.ambiguous = true;
      if (attempt.curl_code == CURLE_OK) result.http_status = static_cast<int>(attempt.http_status);
      if (Resolve(attempt, send, expected, body, &result)) break;
      if (attempt.curl_code != CURLE_OK && MayHaveReachedServer(attempt.curl_code)) {
        result.ambiguous = true;
      }
      const auto retrying_for = Clock::now() - first_attempt;
      if (retrying_for > std::chrono::seconds(options_.give_up_after_s)) {
        result.outcome = Outcome::kFailed;
        result.problem = "gave up after " + std::to_string(result.attempts) +
                         " attempts; last answer " + AnswerName(attempt);
        break;
      }
      std::this_thread::sleep_for(Backoff(result.attempts, attempt.retry_after_s, &jitter));
    }
    resolved_.fetch_add(1, std::memory_order_relaxed);
  }

  // Decides what an attempt means; true when the send is resolved (no retry).
  bool Resolve(const Attempt& attempt, const PlannedSend& send, const ExpectedAnswer& expected,
               const std::string& body, SendResult* result) {
    if (attempt.curl_code != CURLE_OK) return false;
    const long status = attempt.http_status;
    if (status >= 200 && status < 300) {
      Acknowledge(attempt, send, expected, body, result);
      return true;
    }
    if (status == 401 && expected.http_status == 401) {
      result->outcome = Outcome::kRejected;
      return true;
    }
    if (Retryable(status)) return false;
    result->outcome = Outcome::kFailed;
    result->problem =
        "HTTP " + std::to_string(status) + ": " + attempt.body.substr(0, kProblemBodyChars);
    return true;
  }

  void Acknowledge(const Attempt& attempt, const PlannedSend& send, const ExpectedAnswer& expected,
                   const std::string& body, SendResult* result) {
    result->outcome = Outcome::kAcknowledged;
    const nlohmann::json answer =
        nlohmann::json::parse(attempt.body, nullptr, /*allow_exceptions=*/false);
    if (answer.is_object() && answer.contains("arrival_id") && answer["arrival_id"].is_string()) {
      result->arrival_id = answer["arrival_id"].get<std::string>();
    }
    std::string problem;
    if (expected.http_status == 401) {
      problem = "a body with a bad signature (" +
                std::string(BadSignatureName(send.bad_signature)) + ") was acknowledged";
    } else if (result->arrival_id.empty()) {
      problem = "the 2xx carries no arrival_id";
    } else {
      problem = CompareCounts(answer, expected);
    }
    if (!problem.empty()) {
      result->unexpected = true;
      result->problem = problem;
    }
    const Status written = acks_.Append({result->arrival_id.empty() ? "-" : result->arrival_id,
                                         fleet_.partners[send.partner].id.str(), Sha256Hex(body)});
    if (!written.ok()) {
      result->unexpected = true;
      result->problem = "could not record the acknowledgement: " + written.message();
    }
  }

  static std::string CompareCounts(const nlohmann::json& answer, const ExpectedAnswer& expected) {
    const auto check = [&](const char* field, std::size_t want) -> std::string {
      if (!answer.contains(field)) return {};  // an edge that does not report it
      if (!answer[field].is_number_integer() ||
          answer[field].get<std::int64_t>() != static_cast<std::int64_t>(want)) {
        return std::string("the answer says ") + field + "=" + answer[field].dump() +
               ", the plan expects " + std::to_string(want);
      }
      return {};
    };
    std::string problem = check("events", expected.events);
    if (problem.empty()) problem = check("quarantined", expected.quarantine_reasons.size());
    return problem;
  }

  std::chrono::milliseconds Backoff(int attempts, std::int64_t retry_after_s,
                                    SimRandom* jitter) const {
    std::int64_t delay_ms = options_.backoff_initial_ms;
    for (int i = 1; i < attempts && delay_ms < options_.backoff_max_ms; ++i) delay_ms *= 2;
    delay_ms = std::min(delay_ms, options_.backoff_max_ms);
    delay_ms =
        delay_ms / 2 + jitter->Between(0, delay_ms / 2);  // jitter: no retry storms in lockstep
    if (retry_after_s >= 0) {
      delay_ms = std::max(delay_ms, std::min(retry_after_s, options_.retry_after_max_s) * 1000);
    }
    return std::chrono::milliseconds(delay_ms);
  }

  Attempt Perform(CURL* handle, const std::string& url, const std::string& body,
                  const std::vector<HttpHeader>& signature) const {
    Attempt attempt;
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    for (const HttpHeader& header : signature) {
      headers = curl_slist_append(headers, (header.name + ": " + header.value).c_str());
    }
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_USERAGENT, "firehose-sim/1");
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_ms));
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout_ms));
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, CollectBody);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &attempt.body);
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, CollectHeader);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, &attempt);
    curl_easy_setopt(handle, CURLOPT_VERBOSE,
                     1L);  // for the debug callback only; it prints nothing
    curl_easy_setopt(handle, CURLOPT_DEBUGFUNCTION, CountRequestHeads);
    curl_easy_setopt(handle, CURLOPT_DEBUGDATA, &attempt);
    attempt.curl_code = curl_easy_perform(handle);
    if (attempt.curl_code == CURLE_OK) {
      curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &attempt.http_status);
    }
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    return attempt;
  }

  void CountAnswer(const Attempt& attempt) {
    std::lock_guard<std::mutex> lock(answers_mutex_);
    ++report_.answers[AnswerName(attempt)];
    attempts_.fetch_add(1, std::memory_order_relaxed);
  }

  void ShowProgress() {
    const std::size_t total = plan_.sends.size();
    std::unique_lock<std::mutex> lock(progress_mutex_);
    while (!progress_wake_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; })) {
      std::fprintf(stderr, "\rsim: %zu/%zu sends resolved, %lld attempts ", resolved_.load(), total,
                   static_cast<long long>(attempts_.load()));
    }
    std::fprintf(stderr, "\rsim: %zu/%zu sends resolved, %lld attempts\n", resolved_.load(), total,
                 static_cast<long long>(attempts_.load()));
  }

  void Tally() {
    report_.attempts = attempts_.load();
    for (const SendResult& result : report_.results) {
      report_.retries += std::max(0, result.attempts - 1);
      report_.acknowledged += result.outcome == Outcome::kAcknowledged;
      report_.rejected += result.outcome == Outcome::kRejected;
      report_.failed += result.outcome == Outcome::kFailed;
      report_.skipped += result.outcome == Outcome::kSkipped;
      report_.unexpected += result.unexpected;
      report_.ambiguous += result.ambiguous;
    }
  }

  const Fleet& fleet_;
  const Plan& plan_;
  const SenderOptions& options_;
  Pacer pacer_;
  AckWriter acks_;
  SendReport report_;  // results[i] is written only by the thread sending i
  std::mutex answers_mutex_;
  std::atomic<std::size_t> resolved_{0};
  std::atomic<std::int64_t> attempts_{0};
  std::mutex progress_mutex_;
  std::condition_variable progress_wake_;
  bool done_ = false;
};

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kNotSent:
      return "not_sent";
    case Outcome::kAcknowledged:
      return "acknowledged";
    case Outcome::kRejected:
      return "rejected";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kSkipped:
      return "skipped";
  }
  return "?";
}

std::vector<bool> SendReport::Acknowledged() const {
  std::vector<bool> flags(results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    flags[i] = results[i].outcome == Outcome::kAcknowledged;
  }
  return flags;
}

Result<SendReport> SendPlan(const Fleet& fleet, const Plan& plan, const SenderOptions& options) {
  return Sender(fleet, plan, options).Run();
}

std::vector<HttpHeader> SignatureHeaders(const SimPartner& partner, const PlannedSend& send,
                                         std::string_view body, std::int64_t timestamp_s) {
  const SignatureScheme scheme = InfoOf(partner.shape).scheme;
  std::string secret(partner.secret.Reveal());
  std::string signed_body(body);
  switch (send.bad_signature) {
    case BadSignature::kNone:
      break;
    case BadSignature::kWrongSecret:
      secret = WrongSecret(scheme);
      break;
    case BadSignature::kTamperedBody:
      signed_body = TamperedCopy(body);
      break;
    case BadSignature::kStaleTimestamp:
      timestamp_s -= partner.tolerance_s + 3600;
      break;
  }
  if (scheme == SignatureScheme::kStripe) {
    return {{"Stripe-Signature", edge::SignStripe(secret, timestamp_s, signed_body)}};
  }
  return {{"webhook-id", send.message_id},
          {"webhook-timestamp", std::to_string(timestamp_s)},
          {"webhook-signature",
           edge::SignStandardWebhooks(secret, send.message_id, timestamp_s, signed_body)}};
}

std::string FormatAckLine(const AckLine& line) {
  return line.arrival_id + "\t" + line.partner_id + "\t" + line.body_sha256 + "\n";
}

Result<std::vector<AckLine>> ReadAckFile(const std::filesystem::path& path) {
  FH_ASSIGN_OR_RETURN(const std::string text, ReadFile(path, kAckFileBytesMax));
  std::vector<AckLine> lines;
  std::istringstream in(text);
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::size_t first = line.find('\t');
    const std::size_t second = first == std::string::npos ? first : line.find('\t', first + 1);
    if (second == std::string::npos || line.find('\t', second + 1) != std::string::npos) {
      return DataLoss(path.string() + ":" + std::to_string(number) +
                      ": not arrival_id<TAB>partner<TAB>sha256");
    }
    lines.push_back({line.substr(0, first), line.substr(first + 1, second - first - 1),
                     line.substr(second + 1)});
  }
  if (!text.empty() && text.back() != '\n') {
    return DataLoss(path.string() + ": the last line is incomplete");
  }
  return lines;
}

}  // namespace firehose::sim
