#include "support/alert_receiver.h"

#include <gtest/gtest.h>

#include <thread>

#include "edge/http_server.h"

namespace firehose::testing {

AlertReceiver::AlertReceiver() {
  edge::HttpServerOptions options;
  options.name = "receiver";
  server_ = std::make_unique<edge::HttpServer>(options);
  server_->Handle("POST", "/alerts", [this](edge::HttpRequest request, edge::Responder responder) {
    nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << "an alert notification is not JSON: " << request.body;
    {
      std::lock_guard lock(mutex_);
      received_.emplace_back(Clock::now(), std::move(body));
    }
    responder.Send(edge::JsonResponse(200, "{}"));
  });
  const Status started = server_->Start();
  EXPECT_TRUE(started.ok()) << started.ToString();
}

AlertReceiver::~AlertReceiver() { server_->Stop(std::chrono::milliseconds(100)); }

std::string AlertReceiver::url() const {
  return "http://127.0.0.1:" + std::to_string(server_->port()) + "/alerts";
}

std::optional<AlertReceiver::Clock::time_point> AlertReceiver::WaitFor(std::string_view status,
                                                                       std::string_view rule,
                                                                       std::string_view subject,
                                                                       Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      for (const auto& [at, body] : received_) {
        if (Matches(body, status, rule, subject)) return at;
      }
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int AlertReceiver::Count(std::string_view status, std::string_view rule, std::string_view subject) {
  std::lock_guard lock(mutex_);
  int count = 0;
  for (const auto& [at, body] : received_) count += Matches(body, status, rule, subject);
  return count;
}

std::vector<nlohmann::json> AlertReceiver::All() {
  std::lock_guard lock(mutex_);
  std::vector<nlohmann::json> all;
  for (const auto& [at, body] : received_) all.push_back(body);
  return all;
}

bool AlertReceiver::Matches(const nlohmann::json& body, std::string_view status,
                            std::string_view rule, std::string_view subject) {
  if (!body.is_object() || !body.contains("alert")) return false;
  return body.value("status", "") == status && body["alert"].value("rule", "") == rule &&
         (subject.empty() || body["alert"].value("subject", "") == subject);
}

}  // namespace firehose::testing
