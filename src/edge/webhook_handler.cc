#include "edge/webhook_handler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "core/arrival_id.h"
#include "core/json_writer.h"
#include "core/time.h"
#include "edge/signature.h"

namespace firehose::edge {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kStage = "edge";
constexpr std::string_view kUnknownPartner = "_unknown";

bool ContainsIgnoreCase(std::string_view text, std::string_view needle) {
  return std::search(text.begin(), text.end(), needle.begin(), needle.end(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         }) != text.end();
}

// "application/json", optionally with parameters ("; charset=utf-8"), any letter case.
bool IsJsonContentType(std::string_view value) {
  std::string_view media_type = value.substr(0, value.find(';'));
  while (!media_type.empty() && (media_type.back() == ' ' || media_type.back() == '\t')) {
    media_type.remove_suffix(1);
  }
  while (!media_type.empty() && (media_type.front() == ' ' || media_type.front() == '\t')) {
    media_type.remove_prefix(1);
  }
  constexpr std::string_view kJson = "application/json";
  return media_type.size() == kJson.size() && ContainsIgnoreCase(media_type, kJson);
}

std::string_view SignatureFailureMessage(SignatureFailure failure, SignatureScheme scheme) {
  const bool stripe = scheme == SignatureScheme::kStripe;
  switch (failure) {
    case SignatureFailure::kMissingHeader:
      return stripe ? "the Stripe-Signature header is missing"
                    : "a webhook-id, webhook-timestamp or webhook-signature header is missing";
    case SignatureFailure::kMalformedHeader:
      return stripe ? "the Stripe-Signature header is not 't=<unix s>,v1=<hex>'"
                    : "the webhook signature headers are not in the Standard Webhooks syntax";
    case SignatureFailure::kTimestampTooOld:
      return "the signature's timestamp is older than the partner's tolerance";
    case SignatureFailure::kTimestampInFuture:
      return "the signature's timestamp is further in the future than the partner's tolerance";
    case SignatureFailure::kNoMatch:
      return "no signature matches any of the partner's active secrets";
    case SignatureFailure::kBadSecret:
      return "the partner's configured secret cannot be used for this scheme";
    case SignatureFailure::kNone:
      break;
  }
  return "the signature did not verify";
}

Verification Verify(const PartnerConfig& partner, const HttpRequest& request, TimestampUs now) {
  const SignatureConfig& signature = partner.signature;
  if (signature.scheme == SignatureScheme::kStripe) {
    return VerifyStripe(request.Header("Stripe-Signature"), request.body, signature.secrets, now,
                        signature.tolerance_s);
  }
  return VerifyStandardWebhooks(request.Header("webhook-id"), request.Header("webhook-timestamp"),
                                request.Header("webhook-signature"), request.body,
                                signature.secrets, now, signature.tolerance_s);
}

std::uint64_t NextInstanceId() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

Labels StageLabels(std::string_view partner) {
  return {{"stage", std::string(kStage)}, {"partner", std::string(partner)}};
}

}  // namespace

AppendFailureAnswer ClassifyAppendFailure(const Status& status, bool shutting_down) {
  switch (status.code()) {
    case StatusCode::kResourceExhausted:
      // The embedded log refuses with "too many appends in flight" / "appends waiting for the
      // disk" when its memory bounds are reached: the disk is slow, not full.
      if (ContainsIgnoreCase(status.message(), "in flight") ||
          ContainsIgnoreCase(status.message(), "waiting for the disk")) {
        return {503, "overloaded"};
      }
      // ErrnoStatus turns ENOSPC/EDQUOT into ResourceExhausted with strerror's text.
      if (ContainsIgnoreCase(status.message(), "no space") ||
          ContainsIgnoreCase(status.message(), "disk full") ||
          ContainsIgnoreCase(status.message(), "quota")) {
        return {503, "disk_full"};
      }
      return {503, "queue_full"};
    case StatusCode::kInvalidArgument:
      // The config keeps body_bytes_max + the envelope within record_bytes_max; should a record
      // still be over it, the partner must split or shrink it: resending would never help.
      if (ContainsIgnoreCase(status.message(), "record_bytes_max")) return {413, "body_too_large"};
      return {500, "internal"};
    case StatusCode::kUnavailable:
    case StatusCode::kCancelled:
      if (shutting_down || ContainsIgnoreCase(status.message(), "shut"))
        return {503, "shutting_down"};
      return {503, "queue_unavailable"};
    default:
      return {500, "internal"};
  }
}

WebhookHandler::WebhookHandler(const Config& config, Queue& queue, WebhookObserver* observer)
    : config_(config),
      queue_(queue),
      observer_(observer),
      instance_id_(NextInstanceId()),
      rate_limiter_(config.partners),
      unknown_received_(
          Metrics().CounterFor("firehose_received_total", StageLabels(kUnknownPartner))),
      written_events_(
          Metrics().CounterFor("firehose_written_events_total", {{"stage", std::string(kStage)}})),
      written_bytes_(
          Metrics().CounterFor("firehose_written_bytes_total", {{"stage", std::string(kStage)}})) {
  MetricsRegistry& metrics = Metrics();
  metrics.Describe("firehose_edge_request_seconds",
                   "Webhook request latency from its first byte to its answer, by status code");
  for (int status : {202, 401, 404, 413, 415, 429, 500, 503}) {
    latency_by_status_[status] =
        &metrics.HistogramFor("firehose_edge_request_seconds", {{"code", std::to_string(status)}});
  }
  for (const PartnerConfig& partner : config.partners) {
    if (partner.mode != PartnerMode::kWebhook) continue;
    FH_CHECK(partner.mapping != nullptr, "a webhook partner without a mapping (config loader bug)");
    Partner entry;
    entry.config = &partner;
    entry.bucket = rate_limiter_.BucketFor(partner.id.view());
    entry.received = &metrics.CounterFor("firehose_received_total", StageLabels(partner.id.view()));
    entry.accepted = &metrics.CounterFor("firehose_accepted_total", StageLabels(partner.id.view()));
    partners_.emplace(partner.id.str(), entry);
  }
}

WebhookHandler::~WebhookHandler() {
  // Append callbacks use this object: wait for the ones still out (the queue runs each once).
  const Clock::time_point start = Clock::now();
  Clock::time_point next_warning = start + std::chrono::seconds(1);
  while (in_flight_.load(std::memory_order_acquire) > 0) {
    if (Clock::now() >= next_warning) {
      spdlog::warn("edge: waiting for {} webhook appends to complete", in_flight_.load());
      next_warning += std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void WebhookHandler::AddRoutes(HttpServer& server) {
  Route route;
  route.method = "POST";
  route.path = std::string(kWebhookPathPrefix);
  route.prefix = true;
  route.check_headers = [this](const HttpRequest& head) { return CheckHead(head); };
  route.handler = [this](HttpRequest request, Responder responder) {
    Handle(std::move(request), responder);
  };
  route.on_refused = [this](const HttpRequest& head, std::string_view reason) {
    OnRefused(head, reason);
  };
  server.AddRoute(std::move(route));
}

std::string_view WebhookHandler::NotReadyReason() const {
  if (shutting_down()) return "shutting_down";
  if (queue_.Full()) return "queue_full";
  return {};
}

const WebhookHandler::Partner* WebhookHandler::FindPartner(std::string_view path_segment) const {
  if (!PartnerId::IsValid(path_segment)) return nullptr;  // also: '/', '..', '%', upper case
  const auto found = partners_.find(path_segment);
  return found == partners_.end() ? nullptr : &found->second;
}

std::optional<HttpResponse> WebhookHandler::CheckHead(const HttpRequest& head) {
  const Partner* partner = FindPartner(head.path_suffix());
  if (partner == nullptr) {
    unknown_received_.Add();
    return Refusal(nullptr, head.started_at, 404, "unknown_partner",
                   "no webhook partner is configured under this path");
  }
  partner->received->Add();
  if (shutting_down()) {
    return Unavailable(partner, head.started_at, "shutting_down", "the server is shutting down");
  }
  if (queue_.Full()) {
    return Unavailable(partner, head.started_at, "queue_full",
                       "the durable queue is at its size limit");
  }
  if (in_flight_.load(std::memory_order_relaxed) >= config_.limits.in_flight_appends_max) {
    return Unavailable(partner, head.started_at, "overloaded",
                       "too many webhook requests are waiting for their durable append");
  }
  const auto body_bytes_max = static_cast<std::uint64_t>(config_.limits.body_bytes_max);
  if (head.content_length.value_or(0) > body_bytes_max) {
    return Refusal(partner, head.started_at, 413, "body_too_large",
                   "the body is " + std::to_string(*head.content_length) +
                       " bytes, over body_bytes_max (" + std::to_string(body_bytes_max) + ")");
  }
  if (!IsJsonContentType(head.Header("Content-Type"))) {
    return Refusal(partner, head.started_at, 415, "unsupported_media_type",
                   "Content-Type must be application/json");
  }
  return std::nullopt;
}

void WebhookHandler::OnRefused(const HttpRequest& head, std::string_view reason) {
  const Partner* partner = FindPartner(head.path_suffix());
  const std::string_view partner_label = partner ? partner->config->id.view() : kUnknownPartner;
  Metrics()
      .CounterFor("firehose_rejected_total", {{"stage", std::string(kStage)},
                                              {"partner", std::string(partner_label)},
                                              {"reason", std::string(reason)}})
      .Add();
  if (observer_ != nullptr) observer_->OnRejected(partner_label, reason);
  LogRejection(partner_label, reason, 0, head.remote_address);
}

void WebhookHandler::LogRejection(std::string_view partner, std::string_view reason, int status,
                                  std::string_view remote) {
  std::uint64_t held_back = 0;
  if (!log_throttle_.Allow(std::string(partner) + "/" + std::string(reason), &held_back)) return;
  // Never the body or a header: a partner's bad request may carry a secret.
  std::string line = fmt::format("edge: rejected webhook partner={} reason={}", partner, reason);
  if (status != 0) fmt::format_to(std::back_inserter(line), " status={}", status);
  if (!remote.empty()) fmt::format_to(std::back_inserter(line), " remote={}", remote);
  if (held_back != 0) {
    fmt::format_to(std::back_inserter(line), " (and {} more like it since the last line)",
                   held_back);
  }
  spdlog::info("{}", line);
}

void WebhookHandler::Handle(HttpRequest request, const Responder& responder) {
  const Partner* partner = FindPartner(request.path_suffix());
  FH_CHECK(partner != nullptr, "CheckHead lets only configured partners through");
  const PartnerConfig& config = *partner->config;
  const TimestampUs now = NowUs();

  Verification verification = Verify(config, request, now);
  if (!verification.ok()) {
    if (verification.failure == SignatureFailure::kBadSecret) {
      spdlog::warn("edge: partner={} has a secret its signature scheme cannot use",
                   config.id.str());
    }
    return responder.Send(
        Refusal(partner, request.started_at, 401, SignatureFailureName(verification.failure),
                SignatureFailureMessage(verification.failure, config.signature.scheme)));
  }

  const RateDecision rate = partner->bucket->Acquire();
  if (!rate.allowed) {
    HttpResponse response = Refusal(partner, request.started_at, 429, "rate_limited",
                                    "the partner is over its rate limit");
    response.headers.push_back({"Retry-After", std::to_string(rate.RetryAfterSeconds())});
    return responder.Send(std::move(response));
  }

  const MappedArrival mapped = ThreadMapper().Map(config.id, *config.mapping, request.body);
  if (mapped.batch_too_large) {
    return responder.Send(Refusal(partner, request.started_at, 413, "batch_too_large",
                                  mapped.unmapped.front().detail));
  }
  ArrivalSummary summary;
  summary.events = mapped.events.size();
  summary.quarantined = mapped.unmapped.size();
  if (mapped.whole_arrival_unmapped()) summary.quarantine_reason = mapped.unmapped.front().reason;

  Append(*partner, std::move(request), responder, std::move(verification.signature_id), now,
         std::move(summary));
}

void WebhookHandler::Append(const Partner& partner, HttpRequest request, const Responder& responder,
                            std::string signature_id, TimestampUs received_at,
                            ArrivalSummary summary) {
  if (in_flight_.fetch_add(1, std::memory_order_acq_rel) >= config_.limits.in_flight_appends_max) {
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    return responder.Send(
        Unavailable(&partner, request.started_at, "overloaded",
                    "too many webhook requests are waiting for their durable append"));
  }
  QueueRecord record;
  record.arrival_id = NewArrivalId(received_at);
  record.partner_id = partner.config->id;
  record.source = ArrivalSource::kWebhook;
  record.received_at = received_at;
  record.signature_id = std::move(signature_id);
  record.remote_address = request.remote_address;
  record.body = std::move(request.body);

  const std::size_t body_bytes = record.body.size();
  ArrivalId arrival_id = record.arrival_id;
  queue_.Append(std::move(record), [this, &partner, started_at = request.started_at, responder,
                                    body_bytes, arrival_id = std::move(arrival_id),
                                    summary = std::move(summary)](Result<QueueOffset> result) {
    OnAppended(partner, started_at, responder, arrival_id, body_bytes, summary, result);
    // Last: once the count drops, the destructor may let this object go.
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  });
}

// Runs on the queue's thread: cheap, and the answer is posted to the connection's io thread.
void WebhookHandler::OnAppended(const Partner& partner, Clock::time_point started_at,
                                const Responder& responder, const ArrivalId& arrival_id,
                                std::size_t body_bytes, const ArrivalSummary& summary,
                                const Result<QueueOffset>& result) {
  if (!result.ok()) {
    // The queue's own words (paths, byte counts, errno text) go to the log, not to the partner.
    const AppendFailureAnswer answer = ClassifyAppendFailure(result.status(), shutting_down());
    if (answer.status == 503) {
      spdlog::debug("edge: partner={} append refused: {}", partner.config->id.str(),
                    result.status().ToString());
      return responder.Send(Unavailable(&partner, started_at, answer.code,
                                        "the arrival was not stored; retry after Retry-After"));
    }
    if (answer.status == 413) {
      return responder.Send(Refusal(&partner, started_at, 413, answer.code,
                                    "the body and its envelope are over record_bytes_max"));
    }
    Metrics()
        .CounterFor("firehose_errors_total",
                    {{"stage", std::string(kStage)}, {"kind", "append_failed"}})
        .Add();
    spdlog::warn("edge: partner={} append failed: {}", partner.config->id.str(),
                 result.status().ToString());
    return responder.Send(Refusal(&partner, started_at, answer.status, answer.code,
                                  "the arrival could not be stored; it was not accepted"));
  }
  partner.accepted->Add();
  written_events_.Add(summary.events);
  written_bytes_.Add(body_bytes);
  HttpResponse response;
  response.status = 202;
  response.body.reserve(160);  // the whole answer: one allocation instead of one per doubling
  JsonWriter json(&response.body);
  json.BeginObject()
      .Field("arrival_id", arrival_id.view())
      .Field("events", static_cast<std::uint64_t>(summary.events))
      .Field("quarantined", static_cast<std::uint64_t>(summary.quarantined));
  if (!summary.quarantine_reason.empty())
    json.Field("quarantine_reason", summary.quarantine_reason);
  json.EndObject();
  ObserveLatency(202, started_at);
  responder.Send(std::move(response));
}

HttpResponse WebhookHandler::Refusal(const Partner* partner, Clock::time_point started_at,
                                     int status, std::string_view code, std::string_view message) {
  const std::string_view partner_label = partner ? partner->config->id.view() : kUnknownPartner;
  Metrics()
      .CounterFor("firehose_rejected_total", {{"stage", std::string(kStage)},
                                              {"partner", std::string(partner_label)},
                                              {"reason", std::string(code)}})
      .Add();
  if (observer_ != nullptr) observer_->OnRejected(partner_label, code);
  LogRejection(partner_label, code, status, "");
  ObserveLatency(status, started_at);
  return ErrorResponse(status, code, message);
}

HttpResponse WebhookHandler::Unavailable(const Partner* partner, Clock::time_point started_at,
                                         std::string_view code, std::string_view message) {
  HttpResponse response = Refusal(partner, started_at, 503, code, message);
  response.headers.push_back({"Retry-After", std::to_string(config_.limits.retry_after_s)});
  return response;
}

void WebhookHandler::ObserveLatency(int status, Clock::time_point started_at) {
  const double seconds = std::chrono::duration<double>(Clock::now() - started_at).count();
  const auto cached = latency_by_status_.find(status);
  Histogram& histogram = cached != latency_by_status_.end()
                             ? *cached->second
                             : Metrics().HistogramFor("firehose_edge_request_seconds",
                                                      {{"code", std::to_string(status)}});
  histogram.Observe(seconds);
}

Mapper& WebhookHandler::ThreadMapper() {
  struct Cached {
    std::uint64_t owner = 0;
    std::unique_ptr<Mapper> mapper;
  };
  thread_local Cached cached;
  if (cached.owner != instance_id_) {
    cached.mapper = std::make_unique<Mapper>(config_.limits);
    cached.owner = instance_id_;
  }
  return *cached.mapper;
}

}  // namespace firehose::edge
