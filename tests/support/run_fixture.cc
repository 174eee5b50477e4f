#include "support/run_fixture.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "lake/lake_line.h"
#include "lake/lake_reader.h"
#include "support/webhook_fixtures.h"

namespace firehose::testing {

namespace {

constexpr std::string_view kMappings = R"(
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

[mappings.batch]
batch = "/events"
txn_id = "/id"
amount = "/amount"
currency = "/currency"
status = "/status"
event_time = "/at"
[mappings.batch.status_map]
ok = "succeeded"
)";

struct PartnerSpec {
  std::string_view id;
  std::string_view mapping;
  std::string_view scheme;
  std::string_view secret;
};

constexpr PartnerSpec kPartnerSpecs[] = {
    {"acme", "stripe_like", "stripe", kAcmeSecret},
    {"acme-eu", "stripe_like", "stripe", kAcmeEuSecret},
    {"standard", "stripe_like", "standard_webhooks", kStandardSecret},
    {"batcher", "batch", "stripe", kAcmeSecret},
};

void WriteFile(const std::filesystem::path& path, std::string_view text, mode_t mode) {
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ::chmod(path.c_str(), mode);
}

}  // namespace

std::string FirehoseBinary() { return FIREHOSE_BINARY; }

RunServer::RunServer(std::filesystem::path dir, RunServerOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  data_dir_ = options_.data_dir.empty() ? dir_ / "data" : options_.data_dir;
}

RunServer::~RunServer() {
  if (process_.running()) process_.Kill(SIGKILL);
}

std::vector<std::string> RunServer::environment() const {
  std::vector<std::string> env = options_.env;
  if (options_.secret_style == "env") {
    for (std::size_t i = 0; i < std::size(kPartnerSpecs); ++i) {
      env.push_back("FH_TEST_SECRET_" + std::to_string(i) + "=" +
                    std::string(kPartnerSpecs[i].secret));
    }
  }
  return env;
}

void RunServer::WriteConfig() {
  port_ = FreePort();
  std::ostringstream config;
  config << "data_dir = \"" << data_dir_.string()
         << "\"\n\n[server]\nlisten = \"127.0.0.1:" << port_
         << "\"\nio_threads = 2\n\n[limits]\nlake_roll_age_ms = 100\n"
         << options_.limits_toml << "\n"
         << kMappings;
  for (std::size_t i = 0; i < std::size(kPartnerSpecs); ++i) {
    const PartnerSpec& partner = kPartnerSpecs[i];
    std::string reference;
    if (options_.secret_style == "file") {
      const std::filesystem::path path = dir_ / "secrets" / partner.id;
      WriteFile(path, std::string(partner.secret) + "\n", 0600);
      reference = "file:" + path.string();
    } else if (options_.secret_style == "env") {
      reference = "env:FH_TEST_SECRET_" + std::to_string(i);
    } else {
      reference = std::string(partner.secret);
    }
    config << "\n[[partners]]\nid = \"" << partner.id << "\"\nmode = \"webhook\"\nmapping = \""
           << partner.mapping << "\"\nsignature = \"" << partner.scheme << "\"\nsecrets = [\""
           << reference << "\"]\nrate_limit_rps = 0\n";
  }
  WriteFile(config_path(), config.str(), 0600);
  config_written_ = true;
}

bool RunServer::Start() {
  if (!config_written_) WriteConfig();
  if (!process_.Start({FirehoseBinary(), "run", "--config", config_path().string()}, environment(),
                      log_path())) {
    ADD_FAILURE() << "could not start " << FirehoseBinary();
    return false;
  }
  if (!WaitForHttp(port_, "/healthz", 200, std::chrono::seconds(30))) {
    ADD_FAILURE() << "firehose run did not serve /healthz; see " << log_path();
    return false;
  }
  return true;
}

int RunServer::Stop() {
  if (!process_.running()) return -1;
  process_.Kill(SIGTERM);
  return process_.Wait(std::chrono::seconds(60));
}

std::optional<std::uint64_t> RunServer::Counter(
    std::string_view name, const std::map<std::string, std::string>& labels) const {
  const HttpAnswer answer = HttpGet(port_, "/metrics");
  if (answer.status == 404) return std::nullopt;
  EXPECT_EQ(answer.status, 200) << "GET /metrics";
  std::uint64_t sum = 0;
  std::istringstream lines(answer.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with(name)) continue;
    const std::string_view rest = std::string_view(line).substr(name.size());
    if (rest.empty() || (rest.front() != '{' && rest.front() != ' ')) continue;  // a longer name
    bool matches = true;
    for (const auto& [key, value] : labels) {
      if (rest.find(key + "=\"" + value + "\"") == std::string_view::npos) matches = false;
    }
    if (!matches) continue;
    sum += static_cast<std::uint64_t>(std::stod(line.substr(line.rfind(' ') + 1)));
  }
  return sum;
}

std::map<std::string, std::vector<std::string>> LakeArrivals(
    const std::filesystem::path& data_dir) {
  std::map<std::string, std::vector<std::string>> arrivals;
  if (!std::filesystem::exists(lake::LakeRoot(data_dir))) return arrivals;
  auto listing = lake::ListLake(lake::LakeRoot(data_dir));
  EXPECT_TRUE(listing.ok()) << listing.status().ToString();
  if (!listing.ok()) return arrivals;
  lake::RawLineParser parser(/*with_raw=*/true);
  for (const lake::LakeFile& file : listing->Files(lake::Zone::kRaw)) {
    auto reader = lake::LineReader::Open(lake::LakeRoot(data_dir) / file.file.path);
    EXPECT_TRUE(reader.ok()) << file.file.path;
    std::string_view line;
    while (reader.ok() && (*reader)->Next(&line).value()) {
      lake::RawLineView view;
      EXPECT_TRUE(parser.ParsePadded(line, &view).ok());
      arrivals[std::string(view.arrival_id)].push_back("");
    }
  }
  for (const lake::LakeFile& file : listing->Files(lake::Zone::kQuarantine)) {
    auto reader = lake::LineReader::Open(lake::LakeRoot(data_dir) / file.file.path);
    EXPECT_TRUE(reader.ok()) << file.file.path;
    std::string_view line;
    while (reader.ok() && (*reader)->Next(&line).value()) {
      auto parsed = lake::ParseQuarantineLine(line);
      EXPECT_TRUE(parsed.ok());
      if (parsed.ok()) arrivals[parsed->arrival_id].push_back(parsed->reason);
    }
  }
  return arrivals;
}

void WaitForLakeArrivals(const std::filesystem::path& data_dir, std::size_t arrivals,
                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (LakeArrivals(data_dir).size() < arrivals && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace firehose::testing
