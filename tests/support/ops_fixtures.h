// Configs, bodies and queue records shared by the ops tests: `partners` Stripe-like webhook
// partners named p000, p001, ... (secret kAcmeSecret, no rate limit), plus whatever TOML the
// test adds ([ops] rules, [[ops.destinations]], [limits]).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/config.h"
#include "queue/record.h"

namespace firehose::testing {

// The TOML text of such a config (listen 127.0.0.1:0, 2 io threads, a 64 KiB duplicate sketch).
std::string OpsConfigText(int partners, std::string_view extra_toml = "");
// Parses it; fails the current test on a problem.
Config OpsTestConfig(int partners, std::string_view extra_toml = "");
std::string OpsPartnerId(int index);  // "p007"

// A Stripe-like body that maps to one event.
std::string StripeBody(std::string_view txn_id, std::string_view status = "succeeded",
                       std::int64_t amount_minor = 1234, std::string_view currency = "usd");

// A queue record as the edge would append it.
QueueRecord MakeRecord(std::string_view partner, std::string body, TimestampUs received_at);

}  // namespace firehose::testing
