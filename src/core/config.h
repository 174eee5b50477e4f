// The configuration file (TOML): where data lives, how the edge listens, the limits, and the
// partners with their credentials and payload mappings. See README "Configuration".
//
// Loading never stops at the first problem: every problem is collected with the key it is
// about, so that `firehose config check` can explain all of them at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/limits.h"
#include "core/secret.h"
#include "core/status.h"
#include "core/time.h"
#include "core/types.h"

namespace firehose {

enum class PartnerMode : std::uint8_t { kWebhook, kPoll };
enum class SignatureScheme : std::uint8_t {
  kStripe,            // Stripe-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "t.body">
  kStandardWebhooks,  // webhook-id / webhook-timestamp / webhook-signature: v1,<base64>
};
enum class AmountFormat : std::uint8_t { kDecimal, kMinorUnits };
enum class TimeFormat : std::uint8_t { kRfc3339, kUnixSeconds, kUnixMillis };
// How the optional `updated_at`/`version` field orders versions of one transaction.
enum class VersionFormat : std::uint8_t { kNone, kRfc3339, kUnixSeconds, kUnixMillis, kInteger };

std::string_view SignatureSchemeName(SignatureScheme scheme);
std::string_view AmountFormatName(AmountFormat format);
std::string_view TimeFormatName(TimeFormat format);
std::string_view VersionFormatName(VersionFormat format);

// Where each canonical field lives in a partner's JSON (RFC 6901 pointers) and how to read it.
struct Mapping {
  std::string name;            // the [mappings.<name>] it came from, or "<partner>.mapping"
  std::string batch_pointer;   // empty: the body is one event; else the array of events
  std::string txn_id_pointer;  // string (or integer, taken as its decimal text)
  std::string amount_pointer;
  AmountFormat amount_format = AmountFormat::kDecimal;
  std::string currency_pointer;
  std::string status_pointer;
  std::map<std::string, TxnStatus, std::less<>> status_table;  // partner value -> canonical
  std::string event_time_pointer;
  TimeFormat event_time_format = TimeFormat::kRfc3339;
  std::string version_pointer;  // optional: updated_at or a version counter
  VersionFormat version_format = VersionFormat::kNone;
  std::string error_code_pointer;  // optional
};

struct SignatureConfig {
  SignatureScheme scheme = SignatureScheme::kStripe;
  std::vector<Secret> secrets;  // every one is accepted: several during a rotation
  std::int64_t tolerance_s = 300;
};

struct RateLimitConfig {
  double requests_per_second = 5000;  // sustained; 0 means unlimited
  double burst = 10000;               // bucket size
};

// How the poller authenticates to a polled partner's API.
enum class PollAuthKind : std::uint8_t { kNone, kBearer, kBasic, kHeader };
// How a polled API pages: an opaque cursor from the previous page, or a since-time.
enum class PollPagination : std::uint8_t { kCursor, kSince };

struct PollConfig {
  std::string url;  // http://host:port/path
  std::int64_t interval_ms = 5000;
  std::int64_t page_size = 100;
  PollAuthKind auth = PollAuthKind::kNone;
  std::string auth_header;  // for kHeader: the header name (e.g. X-Api-Key)
  std::string basic_user;   // for kBasic
  Secret auth_secret;       // token, password or header value
  PollPagination pagination = PollPagination::kCursor;
  std::string cursor_param = "cursor";      // query parameter carrying the cursor / since
  std::string limit_param = "limit";        // query parameter carrying the page size
  std::string items_pointer = "/data";      // array of events in a page
  std::string next_cursor_pointer = "/next_cursor";  // cursor for the next page (cursor mode)
  std::string has_more_pointer = "/has_more";        // optional boolean
  // Since mode: the field of each item whose value (of the page's last item) is sent as the
  // next `since`. The API must return the items strictly after it, so it must be unique per
  // item (a sequence number, or a time with a tie-breaker).
  std::string since_item_pointer;
  std::int64_t backoff_initial_ms = 200;
  std::int64_t backoff_max_ms = 30000;
  std::int64_t breaker_failures = 5;     // consecutive failures that open the breaker
  std::int64_t breaker_open_ms = 30000;  // time open before one half-open probe
};

struct PartnerConfig {
  PartnerId id;
  PartnerMode mode = PartnerMode::kWebhook;
  std::shared_ptr<const Mapping> mapping;
  SignatureConfig signature;  // webhook partners
  RateLimitConfig rate_limit;
  std::optional<PollConfig> poll;  // poll partners
  // Ops raises a "silent" alert when a partner expected to be active sends nothing for
  // this long; 0 disables it for the partner.
  std::int64_t silence_alert_s = 0;
};

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  int io_threads = 0;  // 0: one per core
  Secret ops_token;    // when set, /api and /metrics require "Authorization: Bearer <token>"
};

enum class QueueBackend : std::uint8_t { kEmbedded, kJetStream };

struct QueueConfig {
  QueueBackend backend = QueueBackend::kEmbedded;
  std::vector<std::string> nats_urls;  // jetstream: nats://host:port of the cluster's servers
  std::string stream = "FIREHOSE";    // jetstream: [A-Za-z0-9_-]{1,64}
  int replicas = 3;                    // jetstream: copies of the stream (1..5)
  // jetstream: the durable consumers the stream keeps records for (created with the stream;
  // a record is purged only after all of them committed past it).
  std::vector<std::string> consumers = {"lake"};
};

struct LakeConfig {
  std::string writer_id = "w0";  // [a-z0-9]{1,16}; unique per lake writer process
  BusinessCalendar calendar;     // business dates are days in this zone
};

struct LedgerConfig {
  int threads = 0;          // 0: one per core
  int partitions = 64;      // hash partitions of the dedup key
  std::int64_t close_delay_s = 1800;  // the daily run starts this long after the day closes
  // How often `firehose run` looks for days to book and stale days to re-run; 0: never (book
  // with `firehose ledger run` / `reprocess` from a job runner instead).
  std::int64_t schedule_tick_s = 30;
  std::string warehouse_url;          // empty: SQLite in <data_dir>/warehouse.sqlite
};

// What an ops alert rule watches (DESIGN §6). Every rule is evaluated per partner except
// kQueueLag, which watches the queue's consumers.
enum class AlertKind : std::uint8_t {
  kErrorRate,          // (failed txns + ingest errors) / (events + ingest errors), percent
  kSilence,            // seconds since the partner's last arrival
  kDuplicateRate,      // estimated duplicate events / events, percent (replay floods)
  kSignatureFailures,  // requests refused for a bad signature within the window (a count)
  kQueueLag,           // records a queue consumer has not committed yet
};
std::string_view AlertKindName(AlertKind kind);

// One [[ops.alerts]] rule. A rule moves pending -> firing -> resolved with hysteresis: it
// fires once the value stayed above `threshold` for `for_s` seconds, and resolves once it
// stayed below `resolve_threshold` for `resolve_hold_s` seconds; in between it keeps its state,
// so a value oscillating around the threshold does not flap.
struct AlertRule {
  std::string name;  // [a-z0-9_-]{1,64}, unique
  AlertKind kind = AlertKind::kErrorRate;
  std::vector<std::string> partners;  // empty: every partner
  double threshold = 0;               // percent, seconds, count or records (see AlertKind)
  double resolve_threshold = 0;       // defaults to 80% of threshold (silence: = threshold)
  std::int64_t window_s = 60;         // the rolling window the value is computed over
  std::int64_t min_events = 0;        // below this volume in the window a rate is not judged
  std::int64_t for_s = 0;             // pending time before firing
  std::int64_t resolve_hold_s = 10;   // time below resolve_threshold before resolving
  std::string severity = "warning";   // warning | critical
  std::string consumer;               // kQueueLag: the consumer to watch; empty: the worst
};

// One [[ops.destinations]]: alert notifications are POSTed there as JSON.
struct AlertDestination {
  std::string name;  // for logs and metrics; defaults to "destination<N>"
  std::string url;   // http:// or https://
  std::int64_t timeout_ms = 2000;
  std::int64_t backoff_initial_ms = 200;  // doubles per failed attempt ...
  std::int64_t backoff_max_ms = 10000;    // ... up to this
  std::int64_t attempts_max = 10;         // then the notification is dropped (and counted)
};

struct OpsConfig {
  std::int64_t commit_interval_ms = 1000;  // how often the ops consumer commits its cursor
  std::int64_t state_window_s = 60;        // window of the partner state and headline rates
  double degraded_error_pct = 5;           // error rate at which a partner is "degraded"
  double down_error_pct = 90;              // ... and "down"
  std::int64_t state_min_events = 50;      // below this traffic in the window, no error state
  std::int64_t recent_alerts_max = 200;    // resolved alerts kept for /api/ops/alerts
  std::vector<AlertRule> alerts;
  std::vector<AlertDestination> destinations;
};

struct Config {
  std::filesystem::path source_path;  // the file this was loaded from (empty when built in code)
  std::filesystem::path data_dir = "firehose-data";
  ServerConfig server;
  QueueConfig queue;
  LakeConfig lake;
  LedgerConfig ledger;
  OpsConfig ops;
  Limits limits;
  std::vector<PartnerConfig> partners;

  const PartnerConfig* FindPartner(std::string_view id) const;
};

struct ConfigProblem {
  std::string key;      // e.g. "partners[2].mapping.amount"
  std::string message;  // what is wrong and what would be right
};

struct ConfigLoad {
  std::optional<Config> config;  // set when there are no problems
  std::vector<ConfigProblem> problems;
};

// Parses TOML text. `base_dir` resolves relative paths (data_dir, file: secrets).
// `world_readable` says whether the file holding `text` is readable by anyone: if it is and it
// holds a literal secret, that is a problem.
ConfigLoad ParseConfig(std::string_view text, const std::filesystem::path& base_dir,
                       bool world_readable = false);
ConfigLoad LoadConfigFile(const std::filesystem::path& path);

// Loads and returns the config, or one Status listing every problem.
Result<Config> LoadConfigOrStatus(const std::filesystem::path& path);

// Text for `config check` and for logs: every partner, mapping and limit, secrets redacted.
std::string DescribeConfig(const Config& config);

// Builds a Mapping from a TOML table's text (used by the simulator and tests).
Result<Mapping> ParseMappingToml(std::string_view toml_table_text, std::string name);

}  // namespace firehose
