#include "support/ops_fixtures.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "core/arrival_id.h"
#include "support/webhook_fixtures.h"

namespace firehose::testing {

std::string OpsPartnerId(int index) {
  char id[16];
  std::snprintf(id, sizeof id, "p%03d", index);
  return id;
}

std::string OpsConfigText(int partners, std::string_view extra_toml) {
  std::string text = R"(
[server]
listen = "127.0.0.1:0"
io_threads = 2

[limits]
ops_dedup_filter_bytes = 65536

[mappings.stripe_like]
txn_id = "/data/object/id"
amount = "/data/object/amount"
amount_format = "minor_units"
currency = "/data/object/currency"
status = "/data/object/status"
event_time = "/created"
event_time_format = "unix_s"
[mappings.stripe_like.status_map]
succeeded = "succeeded"
failed = "failed"
pending = "pending"
)";
  for (int i = 0; i < partners; ++i) {
    text += "\n[[partners]]\nid = \"" + OpsPartnerId(i) +
            "\"\nmode = \"webhook\"\nmapping = \"stripe_like\"\nsignature = \"stripe\"\n"
            "secrets = [\"" +
            std::string(kAcmeSecret) + "\"]\nrate_limit_rps = 0\n";
  }
  text += extra_toml;
  return text;
}

Config OpsTestConfig(int partners, std::string_view extra_toml) {
  ConfigLoad load = ParseConfig(OpsConfigText(partners, extra_toml), "/tmp");
  if (!load.config) {
    for (const ConfigProblem& problem : load.problems) {
      ADD_FAILURE() << "config: " << problem.key << ": " << problem.message;
    }
    return Config{};
  }
  return std::move(*load.config);
}

std::string StripeBody(std::string_view txn_id, std::string_view status, std::int64_t amount_minor,
                       std::string_view currency) {
  return R"({"id":"evt_)" + std::string(txn_id) +
         R"(","created":1764201600,"data":{"object":{"id":")" + std::string(txn_id) +
         R"(","amount":)" + std::to_string(amount_minor) + R"(,"currency":")" +
         std::string(currency) + R"(","status":")" + std::string(status) + R"("}}})";
}

QueueRecord MakeRecord(std::string_view partner, std::string body, TimestampUs received_at) {
  QueueRecord record;
  record.arrival_id = NewArrivalId(received_at);
  record.partner_id = *PartnerId::Parse(partner);
  record.received_at = received_at;
  record.remote_address = "127.0.0.1";
  record.body = std::move(body);
  return record;
}

}  // namespace firehose::testing
