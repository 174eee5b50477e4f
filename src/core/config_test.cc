#include "core/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>

namespace firehose {
namespace {

constexpr std::string_view kValid = R"(
data_dir = "/var/lib/firehose"

[server]
listen = "0.0.0.0:9000"

[lake]
timezone = "Europe/Berlin"

[limits]
body_bytes_max = 2097152
record_bytes_max = 4194304

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

[[partners]]
id = "acme"
mode = "webhook"
mapping = "stripe_like"
signature = "stripe"
secrets = ["env:FIREHOSE_TEST_SECRET_A", "env:FIREHOSE_TEST_SECRET_B"]

[[partners]]
id = "globex"
mode = "poll"
mapping = "stripe_like"
[partners.poll]
url = "http://127.0.0.1:9999/v1/transactions"
auth = "bearer"
auth_secret = "env:FIREHOSE_TEST_SECRET_A"
)";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("FIREHOSE_TEST_SECRET_A", "whsec_alpha_value", 1);
    setenv("FIREHOSE_TEST_SECRET_B", "whsec_beta_value", 1);
  }
  static bool HasProblem(const ConfigLoad& load, std::string_view key, std::string_view words) {
    return std::any_of(load.problems.begin(), load.problems.end(), [&](const ConfigProblem& p) {
      return p.key == key && p.message.find(words) != std::string::npos;
    });
  }
};

TEST_F(ConfigTest, LoadsAValidConfig) {
  const ConfigLoad load = ParseConfig(kValid, "/etc/firehose");
  ASSERT_TRUE(load.config) << load.problems.front().key << ": " << load.problems.front().message;
  const Config& config = *load.config;
  EXPECT_EQ(config.data_dir, "/var/lib/firehose");
  EXPECT_EQ(config.server.listen_port, 9000);
  EXPECT_EQ(config.limits.body_bytes_max, 2097152);
  EXPECT_EQ(config.limits.batch_events_max, 1000);  // default
  EXPECT_EQ(config.lake.calendar.zone_name(), "Europe/Berlin");
  ASSERT_EQ(config.partners.size(), 2u);
  const PartnerConfig* acme = config.FindPartner("acme");
  ASSERT_NE(acme, nullptr);
  ASSERT_EQ(acme->signature.secrets.size(), 2u);
  EXPECT_EQ(acme->signature.secrets[1].Reveal(), "whsec_beta_value");
  EXPECT_EQ(acme->mapping->amount_format, AmountFormat::kMinorUnits);
  EXPECT_EQ(config.FindPartner("globex")->poll->url, "http://127.0.0.1:9999/v1/transactions");
  EXPECT_EQ(config.FindPartner("acm"), nullptr);
}

TEST_F(ConfigTest, DescribeNeverPrintsSecrets) {
  const ConfigLoad load = ParseConfig(kValid, "/etc/firehose");
  ASSERT_TRUE(load.config);
  const std::string text = DescribeConfig(*load.config);
  EXPECT_EQ(text.find("whsec_alpha_value"), std::string::npos);
  EXPECT_EQ(text.find("whsec_beta_value"), std::string::npos);
  EXPECT_NE(text.find("<redacted from env:FIREHOSE_TEST_SECRET_A>"), std::string::npos);
}

TEST_F(ConfigTest, ExplainsEveryProblemAtOnce) {
  std::string text(kValid);
  text += R"(
[[partners]]
id = "Bad Id"
mapping = "nope"
signature = "hmac"
secrets = ["env:FIREHOSE_TEST_UNSET"]
rate_limt_rps = 5
)";
  text.replace(text.find("body_bytes_max = 2097152"), 24, "body_bytes_max = 1");
  unsetenv("FIREHOSE_TEST_UNSET");
  const ConfigLoad load = ParseConfig(text, "/etc/firehose");
  EXPECT_FALSE(load.config);
  EXPECT_TRUE(HasProblem(load, "limits.body_bytes_max", "outside"));
  EXPECT_TRUE(HasProblem(load, "partners[2].id", "[a-z0-9_-]"));
  EXPECT_TRUE(HasProblem(load, "partners[2].mapping", "no [mappings.nope]"));
  EXPECT_TRUE(HasProblem(load, "partners[2].signature", "expected one of"));
  EXPECT_TRUE(HasProblem(load, "partners[2].secrets", "FIREHOSE_TEST_UNSET is not set"));
  EXPECT_TRUE(HasProblem(load, "partners[2].rate_limt_rps", "did you mean 'rate_limit_rps'"));
}

TEST_F(ConfigTest, SincePaginationNeedsTheItemFieldItSendsBack) {
  std::string text(kValid);
  text += "pagination = \"since\"\n";  // appended to globex's [partners.poll]
  ConfigLoad load = ParseConfig(text, "/etc/firehose");
  EXPECT_FALSE(load.config);
  EXPECT_TRUE(HasProblem(load, "partners[1].poll.since_field", "is required"));
  text += "since_field = \"/seq\"\n";
  load = ParseConfig(text, "/etc/firehose");
  ASSERT_TRUE(load.config);
  EXPECT_EQ(load.config->FindPartner("globex")->poll->since_item_pointer, "/seq");
}

TEST_F(ConfigTest, RefusesLiteralSecretsInAWorldReadableFile) {
  std::string text(kValid);
  text.replace(text.find("\"env:FIREHOSE_TEST_SECRET_A\", "), 29, "\"whsec_literal\", ");
  EXPECT_TRUE(ParseConfig(text, "/etc", /*world_readable=*/false).config);
  const ConfigLoad load = ParseConfig(text, "/etc", /*world_readable=*/true);
  EXPECT_FALSE(load.config);
  EXPECT_TRUE(HasProblem(load, "partners[0].secrets", "readable by others"));
}

TEST_F(ConfigTest, RefusesAQueueTooSmallForOneSegmentAndARecord) {
  std::string text(kValid);
  text.replace(text.find("body_bytes_max = 2097152"), 24,
               "body_bytes_max = 2097152\nqueue_bytes_max = 1048576\nsegment_bytes_max = 1048576");
  const ConfigLoad load = ParseConfig(text, "/etc/firehose");
  EXPECT_FALSE(load.config);
  EXPECT_TRUE(HasProblem(load, "limits.queue_bytes_max", "segment_bytes_max + record_bytes_max"));
}

// A body the edge accepts must fit in a queue record with its envelope: otherwise it could only
// be answered 500, and its partner would resend it for ever.
TEST_F(ConfigTest, RefusesABodyLimitThatARecordCannotHold) {
  const auto load_with = [](const std::string& limits) {
    std::string text(kValid);
    text.replace(text.find("body_bytes_max = 2097152\nrecord_bytes_max = 4194304"), 51, limits);
    return ParseConfig(text, "/etc/firehose");
  };
  for (const char* limits : {"body_bytes_max = 4194304\nrecord_bytes_max = 2097152",
                             "body_bytes_max = 2097152\nrecord_bytes_max = 2097152",
                             "body_bytes_max = 2096129"}) {  // the default record_bytes_max
    const ConfigLoad load = load_with(limits);
    EXPECT_FALSE(load.config) << limits;
    EXPECT_TRUE(HasProblem(load, "limits.body_bytes_max", "record_bytes_max - 2048")) << limits;
  }
  EXPECT_TRUE(load_with("body_bytes_max = 2095104").config);  // 2 MiB - 2048
  EXPECT_TRUE(load_with("").config);                           // the defaults
}

TEST_F(ConfigTest, WritebackPiecesAreOffOrAtLeast64KiB) {
  const auto load_with = [](const std::string& value) {
    std::string text(kValid);
    text.replace(text.find("body_bytes_max = 2097152"), 24,
                 "body_bytes_max = 2097152\nlog_writeback_bytes = " + value);
    return ParseConfig(text, "/etc/firehose");
  };
  const ConfigLoad tiny = load_with("4096");
  EXPECT_FALSE(tiny.config);
  EXPECT_TRUE(HasProblem(tiny, "limits.log_writeback_bytes", "at least 65536"));
  const ConfigLoad off = load_with("0");
  ASSERT_TRUE(off.config);
  EXPECT_EQ(off.config->limits.log_writeback_bytes, 0);
  const ConfigLoad large = load_with("2097152");
  ASSERT_TRUE(large.config);
  EXPECT_EQ(large.config->limits.log_writeback_bytes, 2 << 20);
}

TEST_F(ConfigTest, JetStreamQueueNeedsServersAndValidNames) {
  std::string text(kValid);
  text += R"(
[queue]
backend = "jetstream"
stream = "fire hose"
consumers = ["lake", "Ops!"]
)";
  ConfigLoad load = ParseConfig(text, "/etc/firehose");
  EXPECT_FALSE(load.config);
  EXPECT_TRUE(HasProblem(load, "queue.nats_urls", "required"));
  EXPECT_TRUE(HasProblem(load, "queue.stream", "not a stream name"));
  EXPECT_TRUE(HasProblem(load, "queue.consumers", "'Ops!' is not a consumer name"));

  text = std::string(kValid) + R"(
[queue]
backend = "jetstream"
nats_urls = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]
replicas = 3
consumers = ["lake", "ops"]
)";
  load = ParseConfig(text, "/etc/firehose");
  ASSERT_TRUE(load.config) << load.problems.front().message;
  EXPECT_EQ(load.config->queue.backend, QueueBackend::kJetStream);
  EXPECT_EQ(load.config->queue.nats_urls.size(), 2u);
  EXPECT_EQ(load.config->queue.stream, "FIREHOSE");
  EXPECT_EQ(load.config->queue.consumers, (std::vector<std::string>{"lake", "ops"}));
}

TEST_F(ConfigTest, RefusesAStandardWebhooksSecretThatIsNotBase64WithoutPrintingIt) {
  std::string text(kValid);
  text.replace(text.find("signature = \"stripe\""), 20, "signature = \"standard_webhooks\"");
  setenv("FIREHOSE_TEST_SECRET_A", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
  setenv("FIREHOSE_TEST_SECRET_B", "whsec_not*base64*but*secret", 1);
  const ConfigLoad load = ParseConfig(text, "/etc");
  EXPECT_FALSE(load.config);
  EXPECT_TRUE(HasProblem(load, "partners[0].secrets", "secret 2 (<redacted from env:FIREHOSE_TEST_SECRET_B>)"));
  for (const ConfigProblem& problem : load.problems) {
    EXPECT_EQ(problem.message.find("not*base64"), std::string::npos) << problem.message;
  }
  setenv("FIREHOSE_TEST_SECRET_B", "whsec_bm90IGEga2V5", 1);  // base64: accepted
  EXPECT_TRUE(ParseConfig(text, "/etc").config);
}

TEST_F(ConfigTest, SyntaxErrorsNameTheLine) {
  const ConfigLoad load = ParseConfig("a = \n[x", "/etc");
  ASSERT_EQ(load.problems.size(), 1u);
  EXPECT_NE(load.problems[0].key.find("line 1"), std::string::npos);
}

TEST_F(ConfigTest, MappingRequiresTheCanonicalFields) {
  auto mapping = ParseMappingToml("txn_id = \"/id\"\n", "m");
  ASSERT_FALSE(mapping.ok());
  EXPECT_NE(mapping.status().message().find("amount is required"), std::string::npos);
  EXPECT_NE(mapping.status().message().find("status_map"), std::string::npos);
}

TEST_F(ConfigTest, ReadsOpsAlertRulesAndDestinations) {
  std::string text(kValid);
  text += R"(
[ops]
commit_interval_ms = 500

[[ops.alerts]]
name = "acme-errors"
kind = "error_rate"
partners = ["acme"]
threshold = 20
window_s = 30
min_events = 50
for_s = 2

[[ops.alerts]]
name = "lag"
kind = "queue_lag"
threshold = 100000
consumer = "lake"

[[ops.destinations]]
url = "http://127.0.0.1:9/alerts"
)";
  const ConfigLoad load = ParseConfig(text, "/etc/firehose");
  ASSERT_TRUE(load.config) << load.problems.front().key << ": " << load.problems.front().message;
  const OpsConfig& ops = load.config->ops;
  EXPECT_EQ(ops.commit_interval_ms, 500);
  ASSERT_EQ(ops.alerts.size(), 2u);
  EXPECT_EQ(ops.alerts[0].kind, AlertKind::kErrorRate);
  EXPECT_EQ(ops.alerts[0].partners, std::vector<std::string>{"acme"});
  EXPECT_DOUBLE_EQ(ops.alerts[0].resolve_threshold, 16);  // 80% of the threshold by default
  EXPECT_EQ(ops.alerts[0].min_events, 50);
  EXPECT_EQ(ops.alerts[1].consumer, "lake");
  ASSERT_EQ(ops.destinations.size(), 1u);
  EXPECT_EQ(ops.destinations[0].name, "destination0");
  EXPECT_NE(DescribeConfig(*load.config).find("acme-errors  error_rate > 20"), std::string::npos);
}

TEST_F(ConfigTest, ExplainsBadAlertRules) {
  std::string text(kValid);
  text += R"(
[[ops.alerts]]
name = "Bad Name"
kind = "error_rate"
threshold = 150
partners = ["nobody"]

[[ops.alerts]]
name = "flappy"
kind = "duplicate_rate"
threshold = 10
resolve_threshold = 20
windw_s = 5

[[ops.alerts]]
name = "nokind"
threshold = 1

[[ops.destinations]]
url = "ftp://x"
)";
  const ConfigLoad load = ParseConfig(text, "/etc/firehose");
  EXPECT_FALSE(load.config);
  EXPECT_TRUE(HasProblem(load, "ops.alerts[0].name", "[a-z0-9_-]"));
  EXPECT_TRUE(HasProblem(load, "ops.alerts[0].threshold", "0.000000..100.000000"));
  EXPECT_TRUE(HasProblem(load, "ops.alerts[0].partners", "'nobody'"));
  EXPECT_TRUE(HasProblem(load, "ops.alerts[1].resolve_threshold", "flapping"));
  EXPECT_TRUE(HasProblem(load, "ops.alerts[1].windw_s", "did you mean 'window_s'"));
  EXPECT_TRUE(HasProblem(load, "ops.alerts[2].kind", "is required"));
  EXPECT_TRUE(HasProblem(load, "ops.destinations[0].url", "http://"));
}

}  // namespace
}  // namespace firehose
