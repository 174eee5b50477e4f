#include "core/config.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace firehose {

namespace {

using Problems = std::vector<ConfigProblem>;

// Reads one TOML table, recording every problem (wrong type, out of range, unknown key)
// against the full key path instead of stopping at the first.
class TableReader {
 public:
  TableReader(const toml::table* table, std::string path, Problems* problems)
      : table_(table), path_(std::move(path)), problems_(problems) {}

  bool present(std::string_view key) const { return table_ && table_->contains(key); }

  std::string Key(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  void Problem(std::string_view key, std::string message) {
    problems_->push_back({Key(key), std::move(message)});
  }

  std::optional<std::string> String(std::string_view key, bool required = false) {
    known_.insert(std::string(key));
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    if (node == nullptr) {
      if (required) Problem(key, "is required");
      return std::nullopt;
    }
    if (auto value = node->value<std::string>()) return value;
    Problem(key, "must be a string");
    return std::nullopt;
  }

  std::int64_t Integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max) {
    known_.insert(std::string(key));
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    if (node == nullptr) return fallback;
    const auto value = node->value_exact<std::int64_t>();
    if (!value) {
      Problem(key, "must be an integer");
      return fallback;
    }
    if (*value < min || *value > max) {
      Problem(key, "is " + std::to_string(*value) + ", outside " + std::to_string(min) + ".." +
                       std::to_string(max));
      return fallback;
    }
    return *value;
  }

  double Number(std::string_view key, double fallback, double min, double max) {
    known_.insert(std::string(key));
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    if (node == nullptr) return fallback;
    const auto value = node->value<double>();  // integers convert too
    if (!value || *value < min || *value > max) {
      Problem(key, "must be a number in " + std::to_string(min) + ".." + std::to_string(max));
      return fallback;
    }
    return *value;
  }

  std::optional<std::vector<std::string>> Strings(std::string_view key) {
    known_.insert(std::string(key));
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    if (node == nullptr) return std::nullopt;
    const toml::array* array = node->as_array();
    std::vector<std::string> out;
    if (array != nullptr) {
      for (const toml::node& item : *array) {
        if (auto text = item.value<std::string>()) {
          out.push_back(*text);
        } else {
          array = nullptr;
          break;
        }
      }
    }
    if (array == nullptr) {
      if (auto single = node->value<std::string>()) return std::vector<std::string>{*single};
      Problem(key, "must be a string or an array of strings");
      return std::nullopt;
    }
    return out;
  }

  const toml::table* Table(std::string_view key) {
    known_.insert(std::string(key));
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    if (node == nullptr) return nullptr;
    if (const toml::table* table = node->as_table()) return table;
    Problem(key, "must be a table");
    return nullptr;
  }

  const toml::node* Node(std::string_view key) {
    known_.insert(std::string(key));
    return table_ ? table_->get(key) : nullptr;
  }

  // Reports keys present in the table that nothing read: almost always a typo.
  void RejectUnknownKeys() {
    if (table_ == nullptr) return;
    for (const auto& [key, node] : *table_) {
      const std::string name(key.str());
      if (known_.count(name) != 0) continue;
      std::string message = "is not a known setting";
      if (auto close = Closest(name)) message += " (did you mean '" + *close + "'?)";
      Problem(name, message);
    }
  }

 private:
  std::optional<std::string> Closest(const std::string& name) const {
    for (const std::string& candidate : known_) {
      if (EditDistance(candidate, name) <= 2) return candidate;
    }
    return std::nullopt;
  }

  static std::size_t EditDistance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
        diagonal = above;
      }
    }
    return row[b.size()];
  }

  const toml::table* table_;
  std::string path_;
  Problems* problems_;
  std::set<std::string> known_;
};

bool IsValidPointer(std::string_view pointer) {
  if (pointer.empty()) return true;  // the whole document
  if (pointer[0] != '/') return false;
  for (std::size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] == '~' && (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1'))) {
      return false;
    }
  }
  return true;
}

template <typename Enum>
std::optional<Enum> ParseEnum(TableReader& reader, std::string_view key,
                              std::initializer_list<std::pair<std::string_view, Enum>> choices,
                              std::optional<Enum> fallback) {
  const auto text = reader.String(key);
  if (!text) return fallback;
  for (const auto& [name, value] : choices) {
    if (*text == name) return value;
  }
  std::string allowed;
  for (const auto& [name, value] : choices) allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  reader.Problem(key, "is '" + *text + "'; expected one of: " + allowed);
  return fallback;
}

std::string ReadPointer(TableReader& reader, std::string_view key, bool required) {
  const auto pointer = reader.String(key, required);
  if (!pointer) return {};
  if (!IsValidPointer(*pointer)) {
    reader.Problem(key, "'" + *pointer + "' is not an RFC 6901 JSON pointer (it starts with '/')");
    return {};
  }
  if (required && pointer->empty()) reader.Problem(key, "must point inside the event, not be empty");
  return *pointer;
}

std::optional<Mapping> ParseMapping(const toml::table& table, std::string name, std::string path,
                                    Problems* problems) {
  const std::size_t problems_before = problems->size();
  TableReader reader(&table, path, problems);
  Mapping mapping;
  mapping.name = std::move(name);
  mapping.batch_pointer = ReadPointer(reader, "batch", false);
  mapping.txn_id_pointer = ReadPointer(reader, "txn_id", true);
  mapping.amount_pointer = ReadPointer(reader, "amount", true);
  mapping.amount_format = *ParseEnum<AmountFormat>(
      reader, "amount_format",
      {{"decimal", AmountFormat::kDecimal}, {"minor_units", AmountFormat::kMinorUnits}},
      AmountFormat::kDecimal);
  mapping.currency_pointer = ReadPointer(reader, "currency", true);
  mapping.status_pointer = ReadPointer(reader, "status", true);
  mapping.event_time_pointer = ReadPointer(reader, "event_time", true);
  mapping.event_time_format = *ParseEnum<TimeFormat>(
      reader, "event_time_format",
      {{"rfc3339", TimeFormat::kRfc3339}, {"unix_s", TimeFormat::kUnixSeconds},
       {"unix_ms", TimeFormat::kUnixMillis}},
      TimeFormat::kRfc3339);
  mapping.version_pointer = ReadPointer(reader, "version", false);
  mapping.version_format = *ParseEnum<VersionFormat>(
      reader, "version_format",
      {{"rfc3339", VersionFormat::kRfc3339}, {"unix_s", VersionFormat::kUnixSeconds},
       {"unix_ms", VersionFormat::kUnixMillis}, {"integer", VersionFormat::kInteger}},
      VersionFormat::kNone);
  if (!mapping.version_pointer.empty() && mapping.version_format == VersionFormat::kNone) {
    reader.Problem("version_format", "is required with 'version' (rfc3339, unix_s, unix_ms or integer)");
  }
  if (mapping.version_pointer.empty() && mapping.version_format != VersionFormat::kNone) {
    reader.Problem("version", "is required with 'version_format'");
  }
  mapping.error_code_pointer = ReadPointer(reader, "error_code", false);

  if (const toml::table* statuses = reader.Table("status_map")) {
    for (const auto& [partner_value, node] : *statuses) {
      const auto canonical = node.value<std::string>();
      const auto status = canonical ? TxnStatusFromName(*canonical) : std::nullopt;
      if (!status) {
        problems->push_back({path + ".status_map." + std::string(partner_value.str()),
                             "must name a canonical status: succeeded, failed, pending, refunded, "
                             "canceled or disputed"});
        continue;
      }
      mapping.status_table.emplace(std::string(partner_value.str()), *status);
    }
  }
  if (mapping.status_table.empty()) {
    reader.Problem("status_map",
                   "is required: a table from the partner's status values to canonical ones");
  }
  reader.RejectUnknownKeys();
  if (problems->size() != problems_before) return std::nullopt;
  return mapping;
}

void ParseSecrets(TableReader& reader, std::string_view key, std::string_view base_dir,
                  bool world_readable, std::vector<Secret>* out) {
  const auto references = reader.Strings(key);
  if (!references) return;
  for (const std::string& reference : *references) {
    bool literal = false;
    auto secret = ResolveSecret(reference, base_dir, &literal);
    if (!secret.ok()) {
      reader.Problem(key, secret.status().message());
      continue;
    }
    if (literal && world_readable) {
      reader.Problem(key,
                     "holds a literal secret but the config file is readable by others; chmod "
                     "600 it, or use env:NAME / file:PATH");
      continue;
    }
    out->push_back(std::move(secret).value());
  }
}

// Whether `text` is non-empty base64 with padding (RFC 4648 §4): what Standard Webhooks keys are.
bool IsPaddedBase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return false;
  const std::size_t data_end = text.find_last_not_of('=');
  if (data_end == std::string_view::npos || text.size() - data_end - 1 > 2) return false;
  for (char c : text.substr(0, data_end + 1)) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

// A Standard Webhooks secret is "whsec_" + the base64 of the HMAC key. One that is not would make
// every request of the partner fail with signature_bad_secret at run time; say so at load time
// instead. The message names where the secret came from, never its value.
void CheckStandardWebhooksSecrets(TableReader& reader, const std::vector<Secret>& secrets) {
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    std::string_view value = secrets[i].Reveal();
    if (value.starts_with("whsec_")) value.remove_prefix(6);
    if (IsPaddedBase64(value)) continue;
    reader.Problem("secrets", "secret " + std::to_string(i + 1) + " (" + secrets[i].Redacted() +
                                  ") is not a Standard Webhooks secret: whsec_ followed by base64");
  }
}

std::optional<PollConfig> ParsePoll(const toml::table& table, const std::string& path,
                                    std::string_view base_dir, bool world_readable,
                                    Problems* problems) {
  TableReader reader(&table, path, problems);
  PollConfig poll;
  poll.url = reader.String("url", true).value_or("");
  if (!poll.url.empty() && !poll.url.starts_with("http://") && !poll.url.starts_with("https://")) {
    reader.Problem("url", "must start with http:// or https://");
  }
  poll.interval_ms = reader.Integer("interval_ms", poll.interval_ms, 10, 86'400'000);
  poll.page_size = reader.Integer("page_size", poll.page_size, 1, 100'000);
  poll.auth = *ParseEnum<PollAuthKind>(reader, "auth",
                                       {{"none", PollAuthKind::kNone},
                                        {"bearer", PollAuthKind::kBearer},
                                        {"basic", PollAuthKind::kBasic},
                                        {"header", PollAuthKind::kHeader}},
                                       PollAuthKind::kNone);
  poll.auth_header = reader.String("auth_header").value_or("");
  poll.basic_user = reader.String("basic_user").value_or("");
  std::vector<Secret> secrets;
  ParseSecrets(reader, "auth_secret", base_dir, world_readable, &secrets);
  if (!secrets.empty()) poll.auth_secret = std::move(secrets.front());
  if (poll.auth != PollAuthKind::kNone && poll.auth_secret.empty()) {
    reader.Problem("auth_secret", "is required when auth is not 'none'");
  }
  if (poll.auth == PollAuthKind::kHeader && poll.auth_header.empty()) {
    reader.Problem("auth_header", "is required when auth = 'header'");
  }
  if (poll.auth == PollAuthKind::kBasic && poll.basic_user.empty()) {
    reader.Problem("basic_user", "is required when auth = 'basic'");
  }
  poll.pagination = *ParseEnum<PollPagination>(
      reader, "pagination", {{"cursor", PollPagination::kCursor}, {"since", PollPagination::kSince}},
      PollPagination::kCursor);
  poll.cursor_param = reader.String("cursor_param").value_or(poll.cursor_param);
  poll.limit_param = reader.String("limit_param").value_or(poll.limit_param);
  poll.items_pointer = ReadPointer(reader, "items", false);
  if (!reader.present("items")) poll.items_pointer = "/data";
  poll.next_cursor_pointer = ReadPointer(reader, "next_cursor", false);
  if (!reader.present("next_cursor")) poll.next_cursor_pointer = "/next_cursor";
  poll.has_more_pointer = ReadPointer(reader, "has_more", false);
  if (!reader.present("has_more")) poll.has_more_pointer = "/has_more";
  poll.since_item_pointer = ReadPointer(reader, "since_field", false);
  if (poll.pagination == PollPagination::kSince && poll.since_item_pointer.empty()) {
    reader.Problem("since_field",
                   "is required when pagination = 'since': the item field (a JSON pointer) whose "
                   "last value is sent as the next since");
  }
  poll.backoff_initial_ms = reader.Integer("backoff_initial_ms", poll.backoff_initial_ms, 1, 3'600'000);
  poll.backoff_max_ms = reader.Integer("backoff_max_ms", poll.backoff_max_ms, 1, 86'400'000);
  poll.breaker_failures = reader.Integer("breaker_failures", poll.breaker_failures, 1, 1'000'000);
  poll.breaker_open_ms = reader.Integer("breaker_open_ms", poll.breaker_open_ms, 1, 86'400'000);
  reader.RejectUnknownKeys();
  return poll;
}

void ParsePartners(const toml::table& root, const std::map<std::string, std::shared_ptr<const Mapping>>& mappings,
                   std::string_view base_dir, bool world_readable, Config* config,
                   Problems* problems) {
  const toml::node* node = root.get("partners");
  if (node == nullptr) return;
  const toml::array* partners = node->as_array();
  if (partners == nullptr) {
    problems->push_back({"partners", "must be an array of tables ([[partners]])"});
    return;
  }
  std::set<std::string> seen;
  for (std::size_t index = 0; index < partners->size(); ++index) {
    const std::string path = "partners[" + std::to_string(index) + "]";
    const toml::table* table = (*partners)[index].as_table();
    if (table == nullptr) {
      problems->push_back({path, "must be a table"});
      continue;
    }
    TableReader reader(table, path, problems);
    PartnerConfig partner;
    const auto id = reader.String("id", true);
    if (id) {
      auto parsed = PartnerId::Parse(*id);
      if (!parsed.ok()) {
        reader.Problem("id", "'" + *id + "': " + parsed.status().message());
      } else if (!seen.insert(*id).second) {
        reader.Problem("id", "'" + *id + "' is declared twice");
      } else {
        partner.id = *parsed;
      }
    }
    partner.mode = *ParseEnum<PartnerMode>(reader, "mode",
                                           {{"webhook", PartnerMode::kWebhook}, {"poll", PartnerMode::kPoll}},
                                           PartnerMode::kWebhook);
    if (const toml::node* mapping_node = reader.Node("mapping")) {
      if (auto name = mapping_node->value<std::string>()) {
        const auto found = mappings.find(*name);
        if (found == mappings.end()) {
          reader.Problem("mapping", "names '" + *name + "' but there is no [mappings." + *name + "]");
        } else {
          partner.mapping = found->second;
        }
      } else if (const toml::table* inline_mapping = mapping_node->as_table()) {
        if (auto mapping = ParseMapping(*inline_mapping, path + ".mapping", path + ".mapping", problems)) {
          partner.mapping = std::make_shared<const Mapping>(std::move(*mapping));
        }
      } else {
        reader.Problem("mapping", "must be the name of a [mappings.*] table or an inline table");
      }
    } else {
      reader.Problem("mapping", "is required");
    }

    if (partner.mode == PartnerMode::kWebhook) {
      partner.signature.scheme = *ParseEnum<SignatureScheme>(
          reader, "signature",
          {{"stripe", SignatureScheme::kStripe}, {"standard_webhooks", SignatureScheme::kStandardWebhooks}},
          SignatureScheme::kStripe);
      if (!reader.present("signature")) reader.Problem("signature", "is required for a webhook partner (stripe or standard_webhooks)");
      ParseSecrets(reader, "secrets", base_dir, world_readable, &partner.signature.secrets);
      if (partner.signature.secrets.empty() && !reader.present("secrets")) {
        reader.Problem("secrets", "is required for a webhook partner: one or more env:NAME / file:PATH");
      }
      if (partner.signature.scheme == SignatureScheme::kStandardWebhooks) {
        CheckStandardWebhooksSecrets(reader, partner.signature.secrets);
      }
      partner.signature.tolerance_s = reader.Integer("timestamp_tolerance_s", 300, 1, 86'400);
    } else if (const toml::table* poll = reader.Table("poll")) {
      partner.poll = ParsePoll(*poll, path + ".poll", base_dir, world_readable, problems);
    } else {
      reader.Problem("poll", "is required for a poll partner ([partners.poll] with url, ...)");
    }
    partner.rate_limit.requests_per_second =
        reader.Number("rate_limit_rps", partner.rate_limit.requests_per_second, 0, 1e9);
    partner.rate_limit.burst = reader.Number("rate_limit_burst", partner.rate_limit.burst, 1, 1e9);
    partner.silence_alert_s = reader.Integer("silence_alert_s", 0, 0, 7 * 86'400);
    reader.RejectUnknownKeys();
    config->partners.push_back(std::move(partner));
  }
}

void ParseServer(const toml::table* table, std::string_view base_dir, bool world_readable,
                 Config* config, Problems* problems) {
  TableReader reader(table, "server", problems);
  if (const auto listen = reader.String("listen")) {
    const std::size_t colon = listen->rfind(':');
    std::int64_t port = -1;
    if (colon != std::string::npos) {
      try {
        port = std::stoll(listen->substr(colon + 1));
      } catch (...) {
        port = -1;
      }
    }
    if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535) {
      reader.Problem("listen", "'" + *listen + "' is not host:port");
    } else {
      config->server.listen_host = listen->substr(0, colon);
      config->server.listen_port = static_cast<std::uint16_t>(port);
    }
  }
  config->server.io_threads = static_cast<int>(reader.Integer("io_threads", 0, 0, 256));
  std::vector<Secret> token;
  ParseSecrets(reader, "ops_token", base_dir, world_readable, &token);
  if (!token.empty()) config->server.ops_token = std::move(token.front());
  reader.RejectUnknownKeys();
}

void ParseQueue(const toml::table* table, Config* config, Problems* problems) {
  TableReader reader(table, "queue", problems);
  config->queue.backend = *ParseEnum<QueueBackend>(
      reader, "backend", {{"embedded", QueueBackend::kEmbedded}, {"jetstream", QueueBackend::kJetStream}},
      QueueBackend::kEmbedded);
  if (auto urls = reader.Strings("nats_urls")) config->queue.nats_urls = *urls;
  config->queue.stream = reader.String("stream").value_or(config->queue.stream);
  config->queue.replicas = static_cast<int>(reader.Integer("replicas", 3, 1, 5));
  if (auto consumers = reader.Strings("consumers")) config->queue.consumers = *consumers;
  for (const std::string& name : config->queue.consumers) {
    const bool valid = !name.empty() && name.size() <= 64 &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
                       });
    if (!valid) reader.Problem("consumers", "'" + name + "' is not a consumer name ([a-z0-9_-]{1,64})");
  }
  const std::string& stream = config->queue.stream;
  if (stream.empty() || stream.size() > 64 ||
      !std::all_of(stream.begin(), stream.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
      })) {
    reader.Problem("stream", "'" + stream + "' is not a stream name ([A-Za-z0-9_-]{1,64})");
  }
  if (config->queue.backend == QueueBackend::kJetStream && config->queue.nats_urls.empty()) {
    reader.Problem("nats_urls", "is required with backend = 'jetstream'");
  }
  reader.RejectUnknownKeys();
}

void ParseLake(const toml::table* table, Config* config, Problems* problems) {
  TableReader reader(table, "lake", problems);
  if (const auto writer = reader.String("writer_id")) {
    const bool valid = !writer->empty() && writer->size() <= 16 &&
                       std::all_of(writer->begin(), writer->end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                       });
    if (valid) {
      config->lake.writer_id = *writer;
    } else {
      reader.Problem("writer_id", "must match [a-z0-9]{1,16}");
    }
  }
  if (const auto zone = reader.String("timezone")) {
    auto calendar = BusinessCalendar::ForZone(*zone);
    if (calendar.ok()) {
      config->lake.calendar = *calendar;
    } else {
      reader.Problem("timezone", calendar.status().message());
    }
  }
  reader.RejectUnknownKeys();
}

void ParseLedger(const toml::table* table, Config* config, Problems* problems) {
  TableReader reader(table, "ledger", problems);
  config->ledger.threads = static_cast<int>(reader.Integer("threads", 0, 0, 1024));
  config->ledger.partitions = static_cast<int>(reader.Integer("partitions", 64, 1, 65536));
  config->ledger.close_delay_s = reader.Integer("close_delay_s", config->ledger.close_delay_s, 0, 7 * 86'400);
  config->ledger.warehouse_url = reader.String("warehouse_url").value_or("");
  config->ledger.schedule_tick_s =
      reader.Integer("schedule_tick_s", config->ledger.schedule_tick_s, 0, 86'400);
  reader.RejectUnknownKeys();
}

void ParseLimits(const toml::table* table, Config* config, Problems* problems) {
  TableReader reader(table, "limits", problems);
  for (const LimitSpec& spec : kLimitSpecs) {
    config->limits.*spec.field = reader.Integer(spec.name, spec.default_value, spec.min, spec.max);
  }
  reader.RejectUnknownKeys();
  // The embedded log never deletes its active segment, so it must hold a full segment plus one
  // more record or it could stay full for ever (the log checks the exact figure with its framing).
  const Limits& limits = config->limits;
  if (limits.queue_bytes_max < limits.segment_bytes_max + limits.record_bytes_max) {
    problems->push_back({"limits.queue_bytes_max",
                         "must be at least segment_bytes_max + record_bytes_max (" +
                             std::to_string(limits.segment_bytes_max + limits.record_bytes_max) +
                             "), or the log could stay full for ever"});
  }
  // A body the edge accepts must fit in a queue record with its envelope, or it could only ever be
  // answered 500 (and the partner would resend it for ever).
  if (limits.body_bytes_max + kRecordEnvelopeBytesMax > limits.record_bytes_max) {
    problems->push_back({"limits.body_bytes_max",
                         "must be at most record_bytes_max - " +
                             std::to_string(kRecordEnvelopeBytesMax) + " (" +
                             std::to_string(limits.record_bytes_max - kRecordEnvelopeBytesMax) +
                             "): a queue record holds the body and its envelope"});
  }
  // Pieces of a few bytes would cost a system call each; 0 turns the pieces off.
  constexpr std::int64_t kWritebackBytesMin = 64 << 10;
  if (limits.log_writeback_bytes != 0 && limits.log_writeback_bytes < kWritebackBytesMin) {
    problems->push_back({"limits.log_writeback_bytes",
                         "must be 0 (off) or at least " + std::to_string(kWritebackBytesMin) +
                             " bytes: each piece costs a pwritev and a sync_file_range"});
  }
  // A buffer smaller than one message would drop every largest message the senders may send.
  if (limits.ops_relay_pending_bytes_max < limits.ops_relay_message_bytes_max) {
    problems->push_back({"limits.ops_relay_pending_bytes_max",
                         "must be at least ops_relay_message_bytes_max (" +
                             std::to_string(limits.ops_relay_message_bytes_max) +
                             "): it holds whole relay messages"});
  }
}

bool IsValidRuleName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// The threshold's unit and range for each rule kind, for messages.
struct AlertKindSpec {
  AlertKind kind;
  std::string_view name;
  std::string_view unit;
  double threshold_max;
};
constexpr AlertKindSpec kAlertKinds[] = {
    {AlertKind::kErrorRate, "error_rate", "percent", 100},
    {AlertKind::kSilence, "silence", "seconds", 7 * 86'400},
    {AlertKind::kDuplicateRate, "duplicate_rate", "percent", 100},
    {AlertKind::kSignatureFailures, "signature_failures", "requests in the window", 1e12},
    {AlertKind::kQueueLag, "queue_lag", "records", 1e15},
};

const AlertKindSpec& SpecOf(AlertKind kind) {
  for (const AlertKindSpec& spec : kAlertKinds) {
    if (spec.kind == kind) return spec;
  }
  return kAlertKinds[0];
}

std::optional<AlertRule> ParseAlertRule(const toml::table& table, const std::string& path,
                                        const Config& config, Problems* problems) {
  const std::size_t problems_before = problems->size();
  TableReader reader(&table, path, problems);
  AlertRule rule;
  rule.name = reader.String("name", true).value_or("");
  if (!rule.name.empty() && !IsValidRuleName(rule.name)) {
    reader.Problem("name", "'" + rule.name + "' must match [a-z0-9_-]{1,64}");
  }
  const auto kind = ParseEnum<AlertKind>(reader, "kind",
                                         {{"error_rate", AlertKind::kErrorRate},
                                          {"silence", AlertKind::kSilence},
                                          {"duplicate_rate", AlertKind::kDuplicateRate},
                                          {"signature_failures", AlertKind::kSignatureFailures},
                                          {"queue_lag", AlertKind::kQueueLag}},
                                         std::nullopt);
  if (!kind && !reader.present("kind")) {
    reader.Problem("kind",
                   "is required: error_rate, silence, duplicate_rate, signature_failures or "
                   "queue_lag");
  }
  rule.kind = kind.value_or(AlertKind::kErrorRate);
  const AlertKindSpec& spec = SpecOf(rule.kind);
  if (!reader.present("threshold")) {
    reader.Problem("threshold", "is required (" + std::string(spec.unit) + " for a " +
                                    std::string(spec.name) + " rule)");
  }
  rule.threshold = reader.Number("threshold", 0, 0, spec.threshold_max);
  const double default_resolve =
      rule.kind == AlertKind::kSilence ? rule.threshold : rule.threshold * 0.8;
  rule.resolve_threshold =
      reader.Number("resolve_threshold", default_resolve, 0, spec.threshold_max);
  if (rule.resolve_threshold > rule.threshold) {
    reader.Problem("resolve_threshold",
                   "must not be above threshold: the gap between them is what stops an alert "
                   "from flapping");
  }
  rule.window_s = reader.Integer("window_s", rule.window_s, 1, 3600);
  rule.min_events = reader.Integer("min_events", 0, 0, 1'000'000'000);
  rule.for_s = reader.Integer("for_s", 0, 0, 3600);
  rule.resolve_hold_s = reader.Integer("resolve_hold_s", rule.resolve_hold_s, 0, 86'400);
  rule.severity =
      ParseEnum<std::string>(reader, "severity", {{"warning", "warning"}, {"critical", "critical"}},
                             std::string("warning"))
          .value_or("warning");
  rule.consumer = reader.String("consumer").value_or("");
  if (!rule.consumer.empty() && rule.kind != AlertKind::kQueueLag) {
    reader.Problem("consumer", "only applies to a queue_lag rule");
  }
  if (auto partners = reader.Strings("partners")) {
    for (const std::string& partner : *partners) {
      if (config.FindPartner(partner) == nullptr) {
        reader.Problem("partners", "names '" + partner + "', which is not a configured partner");
      }
    }
    rule.partners = *partners;
    if (rule.kind == AlertKind::kQueueLag) {
      reader.Problem("partners", "does not apply to a queue_lag rule (it watches the queue)");
    }
  }
  reader.RejectUnknownKeys();
  if (problems->size() != problems_before) return std::nullopt;
  return rule;
}

std::optional<AlertDestination> ParseDestination(const toml::table& table, const std::string& path,
                                                 std::size_t index, Problems* problems) {
  const std::size_t problems_before = problems->size();
  TableReader reader(&table, path, problems);
  AlertDestination destination;
  destination.name = reader.String("name").value_or("destination" + std::to_string(index));
  if (!IsValidRuleName(destination.name)) {
    reader.Problem("name", "'" + destination.name + "' must match [a-z0-9_-]{1,64}");
  }
  destination.url = reader.String("url", true).value_or("");
  if (!destination.url.empty() && !destination.url.starts_with("http://") &&
      !destination.url.starts_with("https://")) {
    reader.Problem("url", "must start with http:// or https://");
  }
  destination.timeout_ms = reader.Integer("timeout_ms", destination.timeout_ms, 10, 600'000);
  destination.backoff_initial_ms =
      reader.Integer("backoff_initial_ms", destination.backoff_initial_ms, 1, 3'600'000);
  destination.backoff_max_ms =
      reader.Integer("backoff_max_ms", destination.backoff_max_ms, 1, 86'400'000);
  destination.attempts_max = reader.Integer("attempts_max", destination.attempts_max, 1, 1000);
  if (destination.backoff_max_ms < destination.backoff_initial_ms) {
    reader.Problem("backoff_max_ms", "must not be below backoff_initial_ms");
  }
  reader.RejectUnknownKeys();
  if (problems->size() != problems_before) return std::nullopt;
  return destination;
}

// [ops]: read after the partners, so that rules can be checked against them.
void ParseOps(const toml::table* table, Config* config, Problems* problems) {
  TableReader reader(table, "ops", problems);
  OpsConfig& ops = config->ops;
  ops.commit_interval_ms =
      reader.Integer("commit_interval_ms", ops.commit_interval_ms, 10, 600'000);
  ops.state_window_s = reader.Integer("state_window_s", ops.state_window_s, 1, 3600);
  ops.degraded_error_pct = reader.Number("degraded_error_pct", ops.degraded_error_pct, 0, 100);
  ops.down_error_pct = reader.Number("down_error_pct", ops.down_error_pct, 0, 100);
  if (ops.down_error_pct < ops.degraded_error_pct) {
    reader.Problem("down_error_pct", "must not be below degraded_error_pct");
  }
  ops.recent_alerts_max = reader.Integer("recent_alerts_max", ops.recent_alerts_max, 0, 100'000);
  ops.state_min_events =
      reader.Integer("state_min_events", ops.state_min_events, 1, 1'000'000'000);

  std::set<std::string> names;
  if (const toml::node* node = reader.Node("alerts")) {
    const toml::array* rules = node->as_array();
    if (rules == nullptr) reader.Problem("alerts", "must be an array of tables ([[ops.alerts]])");
    for (std::size_t i = 0; rules != nullptr && i < rules->size(); ++i) {
      const std::string path = "ops.alerts[" + std::to_string(i) + "]";
      const toml::table* rule_table = (*rules)[i].as_table();
      if (rule_table == nullptr) {
        problems->push_back({path, "must be a table"});
        continue;
      }
      auto rule = ParseAlertRule(*rule_table, path, *config, problems);
      if (!rule) continue;
      if (!names.insert(rule->name).second) {
        problems->push_back({path + ".name", "'" + rule->name + "' is used by another rule"});
        continue;
      }
      ops.alerts.push_back(std::move(*rule));
    }
  }
  if (const toml::node* node = reader.Node("destinations")) {
    const toml::array* destinations = node->as_array();
    if (destinations == nullptr) {
      reader.Problem("destinations", "must be an array of tables ([[ops.destinations]])");
    }
    for (std::size_t i = 0; destinations != nullptr && i < destinations->size(); ++i) {
      const std::string path = "ops.destinations[" + std::to_string(i) + "]";
      const toml::table* destination_table = (*destinations)[i].as_table();
      if (destination_table == nullptr) {
        problems->push_back({path, "must be a table"});
        continue;
      }
      if (auto destination = ParseDestination(*destination_table, path, i, problems)) {
        ops.destinations.push_back(std::move(*destination));
      }
    }
  }
  reader.RejectUnknownKeys();
}

}  // namespace

std::string_view SignatureSchemeName(SignatureScheme scheme) {
  return scheme == SignatureScheme::kStripe ? "stripe" : "standard_webhooks";
}
std::string_view AlertKindName(AlertKind kind) { return SpecOf(kind).name; }
std::string_view AmountFormatName(AmountFormat format) {
  return format == AmountFormat::kDecimal ? "decimal" : "minor_units";
}
std::string_view TimeFormatName(TimeFormat format) {
  switch (format) {
    case TimeFormat::kRfc3339: return "rfc3339";
    case TimeFormat::kUnixSeconds: return "unix_s";
    case TimeFormat::kUnixMillis: return "unix_ms";
  }
  return "?";
}
std::string_view VersionFormatName(VersionFormat format) {
  switch (format) {
    case VersionFormat::kNone: return "none";
    case VersionFormat::kRfc3339: return "rfc3339";
    case VersionFormat::kUnixSeconds: return "unix_s";
    case VersionFormat::kUnixMillis: return "unix_ms";
    case VersionFormat::kInteger: return "integer";
  }
  return "?";
}

const PartnerConfig* Config::FindPartner(std::string_view id) const {
  for (const PartnerConfig& partner : partners) {
    if (partner.id.view() == id) return &partner;
  }
  return nullptr;
}

ConfigLoad ParseConfig(std::string_view text, const std::filesystem::path& base_dir,
                       bool world_readable) {
  ConfigLoad load;
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& error) {
    const auto& where = error.source().begin;
    load.problems.push_back({"line " + std::to_string(where.line) + ", column " + std::to_string(where.column),
                             std::string(error.description())});
    return load;
  }

  Config config;
  Problems& problems = load.problems;
  TableReader top(&root, "", &problems);
  if (const auto data_dir = top.String("data_dir")) {
    config.data_dir = *data_dir;
    if (config.data_dir.is_relative()) config.data_dir = base_dir / config.data_dir;
  } else {
    config.data_dir = base_dir / config.data_dir;
  }
  config.source_path = base_dir / "firehose.toml";
  ParseServer(top.Table("server"), base_dir.string(), world_readable, &config, &problems);
  ParseQueue(top.Table("queue"), &config, &problems);
  ParseLake(top.Table("lake"), &config, &problems);
  ParseLedger(top.Table("ledger"), &config, &problems);
  ParseLimits(top.Table("limits"), &config, &problems);

  std::map<std::string, std::shared_ptr<const Mapping>> mappings;
  if (const toml::table* table = top.Table("mappings")) {
    for (const auto& [name, node] : *table) {
      const std::string key(name.str());
      if (const toml::table* mapping_table = node.as_table()) {
        if (auto mapping = ParseMapping(*mapping_table, key, "mappings." + key, &problems)) {
          mappings.emplace(key, std::make_shared<const Mapping>(std::move(*mapping)));
        }
      } else {
        problems.push_back({"mappings." + key, "must be a table"});
      }
    }
  }
  top.Node("partners");
  ParsePartners(root, mappings, base_dir.string(), world_readable, &config, &problems);
  ParseOps(top.Table("ops"), &config, &problems);
  top.RejectUnknownKeys();

  if (problems.empty()) load.config = std::move(config);
  return load;
}

ConfigLoad LoadConfigFile(const std::filesystem::path& path) {
  ConfigLoad load;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    load.problems.push_back({path.string(), "cannot be read"});
    return load;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  struct stat info {};
  const bool world_readable = stat(path.c_str(), &info) == 0 && (info.st_mode & S_IROTH) != 0;
  const std::filesystem::path absolute = std::filesystem::absolute(path);
  load = ParseConfig(buffer.str(), absolute.parent_path(), world_readable);
  if (load.config) load.config->source_path = absolute;
  return load;
}

Result<Config> LoadConfigOrStatus(const std::filesystem::path& path) {
  ConfigLoad load = LoadConfigFile(path);
  if (load.config) return std::move(*load.config);
  std::string message = path.string() + " has " + std::to_string(load.problems.size()) + " problem(s):";
  for (const ConfigProblem& problem : load.problems) {
    message += "\n  " + problem.key + ": " + problem.message;
  }
  return InvalidArgument(std::move(message));
}

Result<Mapping> ParseMappingToml(std::string_view toml_table_text, std::string name) {
  Problems problems;
  try {
    const toml::table table = toml::parse(toml_table_text);
    if (auto mapping = ParseMapping(table, name, name, &problems)) return std::move(*mapping);
  } catch (const toml::parse_error& error) {
    return InvalidArgument(std::string(error.description()));
  }
  std::string message = "mapping " + name + ":";
  for (const ConfigProblem& problem : problems) message += " " + problem.key + " " + problem.message + ";";
  return InvalidArgument(std::move(message));
}

std::string DescribeConfig(const Config& config) {
  std::ostringstream out;
  out << "data_dir   " << config.data_dir.string() << "\n"
      << "listen     " << config.server.listen_host << ":" << config.server.listen_port << "\n"
      << "queue      " << (config.queue.backend == QueueBackend::kEmbedded ? "embedded" : "jetstream") << "\n"
      << "timezone   " << config.lake.calendar.zone_name() << "\n"
      << "ops token  " << (config.server.ops_token.empty() ? "none (API open)" : config.server.ops_token.Redacted())
      << "\n"
      << "partners   " << config.partners.size() << "\n";
  for (const PartnerConfig& partner : config.partners) {
    out << "  " << partner.id.str() << "  "
        << (partner.mode == PartnerMode::kWebhook ? "webhook" : "poll") << "  mapping="
        << (partner.mapping ? partner.mapping->name : "?");
    if (partner.mode == PartnerMode::kWebhook) {
      out << "  signature=" << SignatureSchemeName(partner.signature.scheme) << "  secrets=";
      for (std::size_t i = 0; i < partner.signature.secrets.size(); ++i) {
        out << (i ? "," : "") << partner.signature.secrets[i].Redacted();
      }
    } else if (partner.poll) {
      out << "  url=" << partner.poll->url << "  every " << partner.poll->interval_ms << " ms";
    }
    out << "\n";
  }
  out << "ops alerts " << config.ops.alerts.size() << "\n";
  for (const AlertRule& rule : config.ops.alerts) {
    out << "  " << rule.name << "  " << AlertKindName(rule.kind) << " > " << rule.threshold
        << " (resolve < " << rule.resolve_threshold << ")  window=" << rule.window_s << "s"
        << "  for=" << rule.for_s << "s  hold=" << rule.resolve_hold_s << "s  " << rule.severity
        << "\n";
  }
  out << "ops destinations " << config.ops.destinations.size() << "\n";
  for (const AlertDestination& destination : config.ops.destinations) {
    out << "  " << destination.name << "  " << destination.url << "\n";
  }
  out << "limits\n";
  for (const LimitSpec& spec : kLimitSpecs) {
    out << "  " << spec.name << " = " << config.limits.*spec.field << " " << spec.unit << "\n";
  }
  return out.str();
}

}  // namespace firehose
