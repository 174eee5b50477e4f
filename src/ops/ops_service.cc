#include "ops/ops_service.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "core/json_writer.h"
#include "core/metrics.h"
#include "ops/dashboard_assets.h"

namespace firehose::ops {

namespace {

using edge::HttpRequest;
using edge::HttpResponse;
using edge::Responder;

constexpr std::int64_t kRateWindowS = 10;  // "current rate": the last 10 complete seconds
constexpr std::int64_t kLedgerRefreshS = 10;
constexpr std::int64_t kDayS = kMinuteBuckets * 60;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string UrlDecode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
               HexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// The value of `name` in an application/x-www-form-urlencoded query, or nullopt.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (UrlDecode(pair.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string() : UrlDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// "300", "90s", "15m", "1h", "24h", "1d" -> seconds, within 1..86400.
Result<std::int64_t> ParseWindow(std::string_view text) {
  std::int64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  std::string_view unit(end, text.data() + text.size() - end);
  std::int64_t scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  if (unit == "m") scale = 60;
  if (unit == "h") scale = 3600;
  if (unit == "d") scale = 86'400;
  if (error != std::errc() || scale == 0 || number <= 0 || number > kDayS / scale) {
    return InvalidArgument("window '" + std::string(text) +
                           "' must be a duration of 1 s to 1 day: 300, 90s, 15m, 1h, 24h, 1d");
  }
  return number * scale;
}

void TimeField(JsonWriter& json, std::string_view key, TimestampUs time) {
  json.Key(key);
  if (time.value() <= 0) {
    json.Null();
  } else {
    json.String(FormatRfc3339Micros(time));
  }
}

double Round(double value, double scale = 100) {
  return static_cast<double>(static_cast<std::int64_t>(value * scale + 0.5)) / scale;
}

// SHA-256 of both sides, then a constant-time compare: no timing signal about the token, not
// even its length.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char digest_a[SHA256_DIGEST_LENGTH];
  unsigned char digest_b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), digest_a);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), digest_b);
  return CRYPTO_memcmp(digest_a, digest_b, SHA256_DIGEST_LENGTH) == 0;
}

std::string_view ContentTypeOf(std::string_view path) {
  if (path.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (path.ends_with(".css")) return "text/css; charset=utf-8";
  return "text/html; charset=utf-8";
}

// The newest ledger_runs row of a SQLite warehouse, as a JSON object of its columns.
std::string ReadLedgerRun(const std::filesystem::path& path) {
  std::string out;
  JsonWriter json(&out);
  json.BeginObject();
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    json.Field("available", false).Field("reason", "no warehouse at " + path.string()).EndObject();
    return out;
  }
  sqlite3* db = nullptr;
  std::string problem;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    problem = db != nullptr ? sqlite3_errmsg(db) : "cannot open";
  }
  sqlite3_stmt* statement = nullptr;
  if (problem.empty() &&
      sqlite3_prepare_v2(db, "SELECT * FROM ledger_runs ORDER BY rowid DESC LIMIT 1", -1,
                         &statement, nullptr) != SQLITE_OK) {
    problem = sqlite3_errmsg(db);
  }
  if (problem.empty()) sqlite3_busy_timeout(db, 50);
  const int step = problem.empty() ? sqlite3_step(statement) : SQLITE_ERROR;
  if (step == SQLITE_ROW) {
    json.Field("available", true).Key("run").BeginObject();
    for (int column = 0; column < sqlite3_column_count(statement); ++column) {
      json.Key(sqlite3_column_name(statement, column));
      switch (sqlite3_column_type(statement, column)) {
        case SQLITE_INTEGER:
          json.Int(sqlite3_column_int64(statement, column));
          break;
        case SQLITE_FLOAT:
          json.Double(sqlite3_column_double(statement, column));
          break;
        case SQLITE_NULL:
          json.Null();
          break;
        default: {
          const auto* text = sqlite3_column_text(statement, column);
          std::string_view value(reinterpret_cast<const char*>(text),
                                 static_cast<std::size_t>(sqlite3_column_bytes(statement, column)));
          json.String(value.substr(0, 512));  // a manifest can be long: the dashboard shows a line
        }
      }
    }
    json.EndObject();
  } else {
    json.Field("available", false)
        .Field("reason", problem.empty() ? std::string("no ledger run yet") : problem);
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  json.EndObject();
  return out;
}

}  // namespace

OpsService::OpsService(const Config& config, Queue& queue, Clock clock)
    : config_(config),
      queue_(queue),
      state_(config, std::move(clock)),
      consumer_(state_, queue),
      alerts_(state_, [&queue] { return queue.Stats().consumers; }),
      notifier_(config) {
  MetricsRegistry& metrics = Metrics();
  metrics.Describe("firehose_ops_partner_events_per_second",
                   "Events per second over the last 10 s, by partner (ops view)");
  metrics.Describe("firehose_ops_partner_error_percent",
                   "Failed transactions and ingest errors, percent of the partner's traffic over "
                   "ops.state_window_s");
  metrics.Describe("firehose_ops_partner_duplicate_percent",
                   "Estimated duplicate events, percent of the partner's events over "
                   "ops.state_window_s");
  metrics.Describe("firehose_ops_series_bytes", "Memory held by the ops per-partner series");
  metrics.Describe("firehose_ops_partners_tracked", "Partners the ops aggregator tracks");
  metrics.Describe("firehose_ops_sse_clients", "Open /api/ops/stream subscribers");
}

OpsService::~OpsService() { Stop(); }

Status OpsService::Start() {
  FH_RETURN_IF_ERROR(consumer_.Start());
  notifier_.Start();
  {
    std::lock_guard lock(ticker_mutex_);
    stopping_ = false;
    started_ = true;
  }
  RefreshLedger();
  ticker_ = std::thread([this] { RunTicker(); });
  return Status::Ok();
}

void OpsService::Stop() {
  {
    std::lock_guard lock(ticker_mutex_);
    if (!started_) return;
    started_ = false;
    stopping_ = true;
  }
  ticker_wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  {
    std::lock_guard lock(subscribers_mutex_);
    for (auto& stream : subscribers_) stream->End();
    subscribers_.clear();
  }
  notifier_.Stop();
  consumer_.Stop();
}

// Ticks just after each wall-clock second starts, so that a second's bucket is complete.
void OpsService::RunTicker() {
  std::unique_lock lock(ticker_mutex_);
  while (!stopping_) {
    const std::int64_t now_us = state_.Now().value();
    const std::int64_t into_second_us = now_us % 1'000'000;
    const auto wait = std::chrono::microseconds(1'000'000 - into_second_us + 20'000);
    if (ticker_wake_.wait_for(lock, wait, [this] { return stopping_; })) break;
    lock.unlock();
    Tick();
    lock.lock();
  }
}

void OpsService::Tick() {
  const TimestampUs now = state_.Now();
  for (const Alert& change : alerts_.Evaluate(now)) notifier_.Enqueue(NotificationJson(change));
  const std::int64_t now_s = now.value() / 1'000'000;
  UpdateGauges(now_s);
  if (now_s - ledger_read_at_s_ >= kLedgerRefreshS) RefreshLedger();
  bool any_subscriber = false;
  {
    std::lock_guard lock(subscribers_mutex_);
    any_subscriber = !subscribers_.empty();
  }
  if (!any_subscriber) return;
  std::string event = "event: update\ndata: {\"partners\":" + PartnersJson("") +
                      ",\"alerts\":" + AlertsJson() + ",\"status\":" + StatusJson() + "}\n\n";
  Broadcast(event);
}

void OpsService::Broadcast(const std::string& event) {
  std::lock_guard lock(subscribers_mutex_);
  std::erase_if(subscribers_, [&event](const std::shared_ptr<edge::ResponseStream>& stream) {
    return !stream->Write(event);  // false: gone, or too slow (over stream_buffer_bytes_max)
  });
  Metrics().GaugeFor("firehose_ops_sse_clients").Set(static_cast<double>(subscribers_.size()));
}

void OpsService::UpdateGauges(std::int64_t now_s) {
  MetricsRegistry& metrics = Metrics();
  const std::size_t count = state_.partner_count();
  for (std::size_t i = 0; i < count; ++i) {
    const PartnerSeries& series = state_.partner(i);
    if (config_.FindPartner(series.id()) == nullptr) continue;  // label holds configured ids
    const Labels labels = {{"partner", series.id()}};
    const BucketValues rate = series.SumSeconds(now_s - 1, kRateWindowS);
    const BucketValues window = series.SumSeconds(now_s, config_.ops.state_window_s);
    metrics.GaugeFor("firehose_ops_partner_events_per_second", labels)
        .Set(static_cast<double>(rate.events) / kRateWindowS);
    metrics.GaugeFor("firehose_ops_partner_error_percent", labels).Set(window.error_pct());
    metrics.GaugeFor("firehose_ops_partner_duplicate_percent", labels).Set(window.duplicate_pct());
  }
  metrics.GaugeFor("firehose_ops_series_bytes").Set(static_cast<double>(state_.series_bytes()));
  metrics.GaugeFor("firehose_ops_partners_tracked").Set(static_cast<double>(count));
  for (const ConsumerStats& consumer : queue_.Stats().consumers) {
    metrics.GaugeFor("firehose_consumer_lag_records", {{"consumer", consumer.name}})
        .Set(static_cast<double>(consumer.lag_records));
  }
}

void OpsService::RefreshLedger() {
  std::string json;
  if (config_.ledger.warehouse_url.empty()) {
    json = ReadLedgerRun(config_.data_dir / "warehouse.sqlite");
  } else {
    json =
        R"j({"available":false,"reason":"the warehouse is at ledger.warehouse_url (not read by ops)"})j";
  }
  std::lock_guard lock(ledger_mutex_);
  ledger_json_ = std::move(json);
  ledger_read_at_s_ = state_.NowSeconds();
}

std::string OpsService::PartnerState(const PartnerSeries& series, const BucketValues& window,
                                     std::int64_t now_s) const {
  const PartnerConfig* partner = config_.FindPartner(series.id());
  if (partner != nullptr && partner->silence_alert_s > 0 &&
      alerts_.SilentSeconds(series, now_s) > static_cast<double>(partner->silence_alert_s)) {
    return "down";  // expected to be active, and silent for longer than it may be
  }
  const auto volume = static_cast<std::int64_t>(window.events + window.ingest_errors());
  if (volume == 0) return "silent";
  const double error_pct = window.error_pct();
  const bool judgeable = volume >= config_.ops.state_min_events;
  if (judgeable && error_pct >= config_.ops.down_error_pct) return "down";
  if ((judgeable && error_pct >= config_.ops.degraded_error_pct) ||
      alerts_.FiringFor(series.id()) > 0) {
    return "degraded";
  }
  return "ok";
}

std::string OpsService::PartnersJson(std::string_view query) const {
  struct Row {
    const PartnerSeries* series;
    BucketValues window;
    double rate;
    std::string state;
  };
  const TimestampUs now = state_.Now();
  const std::int64_t now_s = now.value() / 1'000'000;
  const std::string filter = QueryParam(query, "q").value_or("");
  const std::string sort = QueryParam(query, "sort").value_or("id");
  std::size_t limit = SIZE_MAX;
  if (auto text = QueryParam(query, "limit")) {
    std::size_t parsed = 0;
    if (std::from_chars(text->data(), text->data() + text->size(), parsed).ec == std::errc()) {
      limit = parsed;
    }
  }
  std::vector<Row> rows;
  std::map<std::string, int> states;
  const std::size_t count = state_.partner_count();
  for (std::size_t i = 0; i < count; ++i) {
    const PartnerSeries& series = state_.partner(i);
    Row row{&series,
            series.SumSeconds(now_s, config_.ops.state_window_s),
            static_cast<double>(series.SumSeconds(now_s - 1, kRateWindowS).events) / kRateWindowS,
            {}};
    row.state = PartnerState(series, row.window, now_s);
    ++states[row.state];
    if (!filter.empty() && series.id().find(filter) == std::string::npos) continue;
    rows.push_back(std::move(row));
  }
  auto by = [&sort](const Row& a, const Row& b) {
    if (sort == "volume") return a.window.events > b.window.events;
    if (sort == "errors") return a.window.error_pct() > b.window.error_pct();
    if (sort == "duplicates") return a.window.duplicate_pct() > b.window.duplicate_pct();
    return a.series->id() < b.series->id();
  };
  std::stable_sort(rows.begin(), rows.end(), by);

  std::string out;
  JsonWriter json(&out);
  json.BeginObject();
  TimeField(json, "now", now);
  json.Field("window_s", config_.ops.state_window_s)
      .Field("partners_total", static_cast<std::uint64_t>(count))
      .Key("states")
      .BeginObject();
  for (std::string_view name : {"ok", "degraded", "down", "silent"}) {
    json.Field(name, states[std::string(name)]);
  }
  json.EndObject().Key("partners").BeginArray();
  for (std::size_t i = 0; i < rows.size() && i < limit; ++i) {
    const Row& row = rows[i];
    // The total before last_seen: an arrival counted in it is never shown without its time.
    const std::uint64_t events_total = row.series->events_total();
    const TimestampUs last_seen = row.series->last_seen();
    json.BeginObject().Field("id", row.series->id()).Field("state", row.state);
    json.Key("rate_per_s").Double(Round(row.rate, 10));
    json.Field("events_window", row.window.events)
        .Field("failed_window", row.window.failed)
        .Field("ingest_errors_window", row.window.ingest_errors());
    json.Key("error_pct").Double(Round(row.window.error_pct()));
    json.Key("duplicate_pct").Double(Round(row.window.duplicate_pct()));
    TimeField(json, "last_seen", last_seen);
    json.Key("last_seen_age_s");
    if (last_seen.value() > 0) {
      json.Double(Round(static_cast<double>(now.value() - last_seen.value()) / 1e6, 10));
    } else {
      json.Null();
    }
    json.Field("lag_max_ms", static_cast<std::uint64_t>(row.window.lag_max_ms))
        .Field("events_total", events_total)
        .Field("errors_total", row.series->errors_total())
        .Field("alerts_firing", alerts_.FiringFor(row.series->id()))
        .Key("errors")
        .BeginObject();
    for (int kind = 0; kind < kIngestErrorKinds; ++kind) {
      json.Field(IngestErrorName(static_cast<IngestError>(kind)), row.window.errors[kind]);
    }
    json.EndObject().EndObject();
  }
  json.EndArray().EndObject();
  return out;
}

Result<std::string> OpsService::SeriesJson(std::string_view query) const {
  const auto partner = QueryParam(query, "partner");
  if (!partner || partner->empty()) return InvalidArgument("partner=<id> is required");
  const PartnerSeries* series = state_.Find(*partner);
  if (series == nullptr) return NotFound("partner '" + *partner + "' is not tracked");
  std::int64_t window_s = 300;
  if (auto text = QueryParam(query, "window")) {
    FH_ASSIGN_OR_RETURN(window_s, ParseWindow(*text));
  }
  const std::int64_t now_s = state_.NowSeconds();
  const bool by_minute = window_s > kSecondBuckets;
  const std::int64_t step_s = by_minute ? 60 : 1;
  const std::vector<BucketValues> buckets =
      by_minute ? series->Minutes(now_s, (window_s + 59) / 60) : series->Seconds(now_s, window_s);
  const std::int64_t last_start = by_minute ? now_s / 60 * 60 : now_s;
  const std::int64_t start_s = last_start - static_cast<std::int64_t>(buckets.size() - 1) * step_s;

  std::string out;
  JsonWriter json(&out);
  json.BeginObject()
      .Field("partner", series->id())
      .Field("window_s", window_s)
      .Field("step_s", step_s)
      .Field("start_unix_s", start_s);
  TimeField(json, "start", TimestampUs(start_s * 1'000'000));
  auto column = [&](std::string_view name, auto value_of) {
    json.Key(name).BeginArray();
    for (const BucketValues& bucket : buckets) value_of(bucket);
    json.EndArray();
  };
  column("events", [&](const BucketValues& b) { json.UInt(b.events); });
  column("failed", [&](const BucketValues& b) { json.UInt(b.failed); });
  column("duplicates", [&](const BucketValues& b) { json.UInt(b.duplicates); });
  column("ingest_errors", [&](const BucketValues& b) { json.UInt(b.ingest_errors()); });
  column("error_pct", [&](const BucketValues& b) { json.Double(Round(b.error_pct())); });
  column("lag_max_ms", [&](const BucketValues& b) { json.UInt(b.lag_max_ms); });
  json.Key("errors").BeginObject();
  for (int kind = 0; kind < kIngestErrorKinds; ++kind) {
    column(IngestErrorName(static_cast<IngestError>(kind)),
           [&](const BucketValues& b) { json.UInt(b.errors[kind]); });
  }
  json.EndObject();
  if (by_minute) {
    column("lag_avg_ms",
           [&](const BucketValues& b) { json.UInt(b.events == 0 ? 0 : b.lag_sum_ms / b.events); });
    // Amounts in minor units per currency slot (the last is every other currency).
    const auto currencies = series->CurrencySlots();
    json.Key("amounts_minor").BeginObject();
    for (int slot = 0; slot <= kCurrencySlots; ++slot) {
      if (slot < kCurrencySlots && currencies[slot].empty()) continue;
      column(slot < kCurrencySlots ? std::string_view(currencies[slot]) : "other",
             [&](const BucketValues& b) { json.Int(b.amounts[slot]); });
    }
    json.EndObject();
  }
  json.EndObject();
  return out;
}

std::string OpsService::AlertsJson() const {
  std::string out;
  JsonWriter json(&out);
  json.BeginObject().Key("active").BeginArray();
  for (const Alert& alert : alerts_.Active()) json.Raw(AlertJson(alert));
  json.EndArray().Key("recent").BeginArray();
  for (const Alert& alert : alerts_.Recent()) json.Raw(AlertJson(alert));
  json.EndArray().EndObject();
  return out;
}

std::string OpsService::StatusJson() const {
  const QueueStats stats = queue_.Stats();
  std::string out;
  JsonWriter json(&out);
  json.BeginObject();
  TimeField(json, "now", state_.Now());
  json.Key("queue")
      .BeginObject()
      .Field("first_offset", stats.first_offset.value())
      .Field("next_offset", stats.next_offset.value())
      .Field("bytes", stats.bytes)
      .Field("bytes_max", stats.bytes_max)
      .Key("consumers")
      .BeginArray();
  std::uint64_t lag_max = 0;
  for (const ConsumerStats& consumer : stats.consumers) {
    lag_max = std::max(lag_max, consumer.lag_records);
    json.BeginObject()
        .Field("name", consumer.name)
        .Field("committed_next", consumer.committed_next.value())
        .Field("lag_records", consumer.lag_records)
        .EndObject();
  }
  json.EndArray().Field("lag_records_max", lag_max).EndObject();
  json.Key("ops")
      .BeginObject()
      .Field("partners_tracked", static_cast<std::uint64_t>(state_.partner_count()))
      .Field("partners_max", config_.limits.ops_partners_max)
      .Field("series_bytes", static_cast<std::uint64_t>(state_.series_bytes()))
      .Field("series_bytes_per_partner", static_cast<std::uint64_t>(PartnerSeries::kSeriesBytes))
      .Field("records_consumed", consumer_.records())
      .Field("overflow_records", state_.overflow_records())
      .Field("unknown_partner_rejections", state_.unknown_rejections())
      .EndObject();
  std::lock_guard lock(ledger_mutex_);
  json.Key("ledger").Raw(ledger_json_).EndObject();
  return out;
}

bool OpsTokenAccepted(const Config& config, const HttpRequest& request) {
  if (config.server.ops_token.empty()) return true;
  constexpr std::string_view kBearer = "Bearer ";
  const std::string_view header = request.Header("Authorization");
  if (header.size() <= kBearer.size() || !header.starts_with(kBearer)) return false;
  return ConstantTimeEquals(header.substr(kBearer.size()), config.server.ops_token.Reveal());
}

void ServeWithOpsToken(const Config& config, const HttpRequest& request,
                       const Responder& responder, const std::function<HttpResponse()>& answer) {
  if (!OpsTokenAccepted(config, request)) {
    HttpResponse response = edge::ErrorResponse(
        401, "unauthorized", "this endpoint needs the header 'Authorization: Bearer <ops token>'");
    response.headers.push_back({"WWW-Authenticate", "Bearer"});
    return responder.Send(std::move(response));
  }
  HttpResponse response = answer();
  response.headers.push_back({"Cache-Control", "no-store"});
  responder.Send(std::move(response));
}

void AddMetricsRoute(edge::HttpServer& server, const Config& config) {
  server.Handle("GET", "/metrics", [&config](HttpRequest request, Responder responder) {
    ServeWithOpsToken(config, request, responder, [] {
      HttpResponse response;
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      response.body = Metrics().Expose();
      return response;
    });
  });
}

bool OpsService::Authorized(const HttpRequest& request) const {
  return OpsTokenAccepted(config_, request);
}

void OpsService::Serve(const HttpRequest& request, const Responder& responder,
                       const std::function<HttpResponse()>& answer) const {
  ServeWithOpsToken(config_, request, responder, answer);
}

void OpsService::Subscribe(const Responder& responder) {
  std::lock_guard lock(subscribers_mutex_);
  std::erase_if(subscribers_, [](const auto& stream) { return stream->ended(); });
  if (subscribers_.size() >= static_cast<std::size_t>(config_.limits.sse_clients_max)) {
    HttpResponse response =
        edge::ErrorResponse(503, "too_many_subscribers",
                            "the stream has sse_clients_max subscribers already; retry later");
    response.headers.push_back({"Retry-After", "5"});
    return responder.Send(std::move(response));
  }
  auto stream = responder.Stream(200, "text/event-stream",
                                 {{"Cache-Control", "no-store"}, {"X-Accel-Buffering", "no"}});
  // The first update at once, so that a new subscriber does not wait for the next tick.
  stream->Write("retry: 2000\n\nevent: update\ndata: {\"partners\":" + PartnersJson("") +
                ",\"alerts\":" + AlertsJson() + ",\"status\":" + StatusJson() + "}\n\n");
  subscribers_.push_back(std::move(stream));
}

void OpsService::AddRoutes(edge::HttpServer& server) {
  server.Handle("GET", "/api/ops/partners", [this](HttpRequest request, Responder responder) {
    Serve(request, responder,
          [&] { return edge::JsonResponse(200, PartnersJson(request.query())); });
  });
  server.Handle("GET", "/api/ops/series", [this](HttpRequest request, Responder responder) {
    Serve(request, responder, [&] {
      Result<std::string> body = SeriesJson(request.query());
      if (body.ok()) return edge::JsonResponse(200, std::move(*body));
      const bool not_found = body.status().code() == StatusCode::kNotFound;
      return edge::ErrorResponse(not_found ? 404 : 400, not_found ? "unknown_partner" : "bad_query",
                                 body.status().message());
    });
  });
  server.Handle("GET", "/api/ops/alerts", [this](HttpRequest request, Responder responder) {
    Serve(request, responder, [&] { return edge::JsonResponse(200, AlertsJson()); });
  });
  server.Handle("GET", "/api/ops/status", [this](HttpRequest request, Responder responder) {
    Serve(request, responder, [&] { return edge::JsonResponse(200, StatusJson()); });
  });
  server.Handle("GET", "/api/ops/stream", [this](HttpRequest request, Responder responder) {
    if (!Authorized(request)) {
      return Serve(request, responder, [] { return HttpResponse{}; });  // answers 401
    }
    Subscribe(responder);
  });
  AddMetricsRoute(server, config_);
  for (const EmbeddedFile& file : EmbeddedFiles()) {
    server.Handle("GET", std::string(file.path), [&file](HttpRequest, Responder responder) {
      HttpResponse response;
      response.content_type = std::string(ContentTypeOf(file.path));
      response.body = std::string(file.bytes);
      response.headers.push_back({"Cache-Control", "no-cache"});
      responder.Send(std::move(response));
    });
  }
}

}  // namespace firehose::ops
