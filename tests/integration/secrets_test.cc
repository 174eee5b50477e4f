// Secrets never leave the process: with known secret values in the config (inline, file: and
// env:), `firehose run` at debug log level is sent valid and failing webhooks, and the CLI
// checks good and broken configs in both output modes; afterwards the secret bytes appear
// nowhere in any stdout or stderr, HTTP answer, log file, or file under the data directory
// (lake files decompressed). The scan is shown to work by finding the secrets in the config.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "edge/signature.h"
#include "support/raw_http.h"
#include "support/run_fixture.h"
#include "support/webhook_fixtures.h"

namespace firehose {
namespace {

using testing::BuildRequest;
using testing::kAcmeEuSecret;
using testing::kAcmeSecret;
using testing::kStandardSecret;
using testing::RunServer;

constexpr std::string_view kBadBase64Secret = "whsec_!!this-is-not-base64-but-secret!!";

std::vector<std::string> SecretValues() {
  std::vector<std::string> values = {std::string(kAcmeSecret), std::string(kAcmeEuSecret),
                                     std::string(kStandardSecret), std::string(kBadBase64Secret)};
  // Standard Webhooks signs with the base64 decoding of the secret: those key bytes too.
  std::string key;
  EXPECT_TRUE(edge::Base64Decode(kStandardSecret.substr(6), &key));
  values.push_back(key);
  // A secret stripped of its prefix would still be one.
  values.push_back(std::string(kAcmeSecret.substr(6)));
  return values;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every place a secret must not be, as (where, bytes).
class Haystack {
 public:
  void Add(std::string where, std::string bytes) {
    items_.emplace_back(std::move(where), std::move(bytes));
  }

  void AddDirectory(const std::filesystem::path& root) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      Add(entry.path().string(), ReadFile(entry.path()));
      if (entry.path().extension() == ".zst") {
        std::string text;
        testing::RunCommand({"zstdcat", entry.path().string()}, &text);
        Add(entry.path().string() + " (decompressed)", std::move(text));
      }
    }
  }

  // Where any of `secrets` occurs.
  std::vector<std::string> Find(const std::vector<std::string>& secrets) const {
    std::vector<std::string> found;
    for (const auto& [where, bytes] : items_) {
      for (std::size_t i = 0; i < secrets.size(); ++i) {
        if (bytes.find(secrets[i]) != std::string::npos) {
          found.push_back("secret #" + std::to_string(i) + " in " + where);
        }
      }
    }
    return found;
  }
  std::size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// Runs the CLI with stdout and stderr captured together.
std::string RunCli(const std::vector<std::string>& args, const std::vector<std::string>& env,
                   int* status) {
  // `timeout`: a config that unexpectedly loads would otherwise run until killed.
  std::string command = "timeout 30 '" + testing::FirehoseBinary() + "'";
  for (const std::string& arg : args) command += " '" + arg + "'";
  std::string output;
  *status = testing::RunCommand({"/bin/sh", "-c", command + " 2>&1"}, &output, env);
  return output;
}

void WriteConfig(const std::filesystem::path& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  }
  ::chmod(path.c_str(), mode);
}

TEST(Secrets, NeverInOutputsAnswersLogsOrTheDataDirectory) {
  testing::TempDir dir;
  Haystack haystack;
  const std::vector<std::string> secrets = SecretValues();

  testing::RunServerOptions debug_log;
  debug_log.env = {"FIREHOSE_LOG_LEVEL=debug"};
  RunServer server(dir.path() / "inline", debug_log);
  ASSERT_TRUE(server.Start());
  const std::string body = std::string(testing::kEvent);
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"valid", testing::SignedPost("acme", body)},
      {"forged", BuildRequest("POST", "/v1/webhooks/acme",
                              testing::StripeHeaders(body, "whsec_forged"), body)},
      {"other partner's secret", testing::SignedPost("acme-eu", body)},
      {"malformed signature",
       BuildRequest("POST", "/v1/webhooks/acme",
                    {{"Content-Type", "application/json"}, {"Stripe-Signature", "t=x,v1=zz"}},
                    body)},
      {"standard webhooks, wrong signature",
       BuildRequest("POST", "/v1/webhooks/standard",
                    {{"Content-Type", "application/json"},
                     {"webhook-id", "msg_1"},
                     {"webhook-timestamp", std::to_string(std::time(nullptr))},
                     {"webhook-signature", "v1,AAAA"}},
                    body)},
      {"unknown partner", testing::SignedPost("initech", body)},
      {"unmappable", testing::SignedPost("acme", "{not json")},
  };
  for (const auto& [name, request] : requests) {
    const auto response = testing::RoundTrip(server.port(), request);
    ASSERT_TRUE(response) << name;
    std::string answer = std::to_string(response->status) + "\n";
    for (const auto& [header, value] : response->headers) answer += header + ": " + value + "\n";
    haystack.Add("answer to " + name, answer + response->body);
  }
  const testing::HttpAnswer metrics = testing::HttpGet(server.port(), "/metrics");
  haystack.Add("/metrics", metrics.body);
  EXPECT_EQ(server.Stop(), 0);
  haystack.Add("server log", ReadFile(server.log_path()));
  EXPECT_GT(ReadFile(server.log_path()).size(), 0u) << "the debug log should say something";
  haystack.AddDirectory(server.data_dir());

  // The CLI, on good configs in each secret style and on broken ones.
  testing::RunServerOptions file_secrets;
  file_secrets.secret_style = "file";
  testing::RunServerOptions env_secrets;
  env_secrets.secret_style = "env";
  RunServer file_style(dir.path() / "file", file_secrets);
  RunServer env_style(dir.path() / "env", env_secrets);
  ASSERT_TRUE(file_style.Start());
  ASSERT_TRUE(env_style.Start());
  EXPECT_EQ(file_style.Stop(), 0);
  EXPECT_EQ(env_style.Stop(), 0);
  haystack.Add("file-style server log", ReadFile(file_style.log_path()));
  haystack.Add("env-style server log", ReadFile(env_style.log_path()));

  const std::string good_text = ReadFile(server.config_path());
  const std::filesystem::path world_readable = dir.path() / "world-readable.toml";
  WriteConfig(world_readable, good_text, 0644);
  const std::filesystem::path bad_secret = dir.path() / "bad-secret.toml";
  std::string bad_secret_text = good_text;
  bad_secret_text.replace(bad_secret_text.find(kStandardSecret), kStandardSecret.size(),
                          kBadBase64Secret);
  WriteConfig(bad_secret, bad_secret_text, 0600);
  const std::filesystem::path syntax_error = dir.path() / "syntax-error.toml";
  std::string syntax_error_text = good_text;
  const std::size_t secret_at = syntax_error_text.find(kAcmeSecret);
  syntax_error_text.insert(secret_at + kAcmeSecret.size() + 1, "\"\"");  // a broken array
  WriteConfig(syntax_error, syntax_error_text, 0600);

  struct CliCase {
    std::string name;
    std::filesystem::path config;
    std::vector<std::string> env;
    int status;
  };
  const std::vector<CliCase> cases = {
      {"inline", server.config_path(), {}, 0},
      {"file:", file_style.config_path(), {}, 0},
      {"env:", env_style.config_path(), env_style.environment(), 0},
      {"world-readable", world_readable, {}, 1},
      {"secret that is not base64", bad_secret, {}, 1},
      {"TOML syntax error next to a secret", syntax_error, {}, 1},
  };
  for (const CliCase& cli : cases) {
    for (const bool json : {false, true}) {
      std::vector<std::string> args = {"config", "check", cli.config.string()};
      if (json) args.push_back("--json");
      int status = -1;
      const std::string output = RunCli(args, cli.env, &status);
      EXPECT_EQ(status, cli.status) << cli.name << (json ? " --json" : "") << ":\n" << output;
      haystack.Add("config check " + cli.name + (json ? " --json" : ""), output);
    }
    if (cli.status == 0) continue;  // a good config runs until stopped (done above)
    int status = -1;
    haystack.Add(
        "run " + cli.name,
        RunCli({"run", "--config", cli.config.string(), "--log-level", "debug"}, cli.env, &status));
    EXPECT_EQ(status, 3) << "run with " << cli.name;
  }

  const std::vector<std::string> found = haystack.Find(secrets);
  EXPECT_TRUE(found.empty()) << ::testing::PrintToString(found);
  std::printf("searched %zu outputs, answers, logs and files for %zu secret values\n",
              haystack.size(), secrets.size());

  // The search itself works: the config files hold the secrets, and it finds them there.
  Haystack configs;
  configs.Add("inline config", good_text);
  configs.Add("file: secret", ReadFile(dir.path() / "file" / "secrets" / "acme"));
  EXPECT_EQ(configs.Find(secrets).size(), 6u) << ::testing::PrintToString(configs.Find(secrets));
}

}  // namespace
}  // namespace firehose
