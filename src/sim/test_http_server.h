// A small HTTP/1.1 server for the simulator's tests (Boost.Beast, blocking, loopback): it records
// every request and answers what the test's handler says. FakeEdge answers like the edge's
// contract (DESIGN §3) using the real signature check and mapper. Test-only.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/mapping.h"
#include "core/time.h"
#include "edge/signature.h"

namespace firehose::sim::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Received {
  std::size_t connection = 0;
  std::string partner;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  Clock::time_point at;
  int attempt = 0;  // how many times this exact body has arrived, this one included
};

struct Reply {
  int status = 202;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool drop = false;  // close the connection without answering
};

inline Reply MakeReply(int status, std::string body, std::string retry_after = "") {
  Reply reply;
  reply.status = status;
  reply.body = std::move(body);
  if (!retry_after.empty()) reply.headers.emplace_back("Retry-After", retry_after);
  return reply;
}

inline Reply Drop() {
  Reply reply;
  reply.drop = true;
  return reply;
}

// A blocking HTTP/1.1 server: one thread accepts, one thread per connection. The handler runs
// under the server's lock (so it may keep state without its own).
class TestServer {
 public:
  using Handler = std::function<Reply(const Received&)>;

  explicit TestServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~TestServer() { Stop(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<Received> received() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }
  std::size_t connections() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return connections_;
  }

  void Stop() {
    if (stopping_.exchange(true)) return;
    boost::system::error_code ignored;
    tcp::socket wake(io_);
    wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
    accept_thread_.join();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& thread : connection_threads_) thread.join();
  }

 private:
  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(io_);
      boost::system::error_code error;
      acceptor_.accept(socket, error);
      if (stopping_) return;
      if (error) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      const std::size_t id = connections_++;
      open_fds_.insert(socket.native_handle());
      connection_threads_.emplace_back(
          [this, id, s = std::move(socket)]() mutable { Serve(std::move(s), id); });
    }
  }

  void Serve(tcp::socket socket, std::size_t id) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> request;
      boost::system::error_code error;
      http::read(socket, buffer, request, error);
      if (error) break;
      Reply reply;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        Received received;
        received.connection = id;
        const std::string target(request.target());
        received.partner = target.substr(target.rfind('/') + 1);
        received.body = request.body();
        for (const auto& field : request) {
          std::string name(field.name_string());
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          received.headers[name] = std::string(field.value());
        }
        received.at = Clock::now();
        received.attempt = ++attempts_of_body_[received.body];
        received_.push_back(received);
        reply = handler_(received);
      }
      if (reply.drop) break;
      http::response<http::string_body> response{static_cast<http::status>(reply.status),
                                                 request.version()};
      for (const auto& [name, value] : reply.headers) response.set(name, value);
      response.set(http::field::content_type, "application/json");
      response.body() = reply.body;
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      http::write(socket, response, error);
      if (error || !request.keep_alive()) break;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    open_fds_.erase(socket.native_handle());
  }

  Handler handler_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  std::vector<std::thread> connection_threads_;
  std::set<int> open_fds_;
  std::size_t connections_ = 0;
  std::vector<Received> received_;
  std::map<std::string, int> attempts_of_body_;
};

// The edge's contract, with the real signature check and mapper: 401 for a bad signature, else
// 202 with the arrival id and the event / quarantine counts.
class FakeEdge {
 public:
  explicit FakeEdge(const Config& config) : config_(config), mapper_(config.limits) {}

  Reply Answer(const Received& request) {
    const PartnerConfig* partner = config_.FindPartner(request.partner);
    if (partner == nullptr) return MakeReply(404, R"({"error":"unknown_partner"})");
    if (!Verified(*partner, request)) return MakeReply(401, R"({"error":"bad_signature"})");
    const MappedArrival mapped = mapper_.Map(partner->id, *partner->mapping, request.body);
    char arrival_id[32];
    std::snprintf(arrival_id, sizeof arrival_id, "01JTEST%019zu", ++arrivals_);
    return MakeReply(202, "{\"arrival_id\":\"" + std::string(arrival_id) +
                              "\",\"events\":" + std::to_string(mapped.events.size()) +
                              ",\"quarantined\":" + std::to_string(mapped.unmapped.size()) + "}");
  }

 private:
  bool Verified(const PartnerConfig& partner, const Received& request) const {
    const auto header = [&](const char* name) {
      const auto found = request.headers.find(name);
      return found == request.headers.end() ? std::string() : found->second;
    };
    const auto& secrets = partner.signature.secrets;
    if (partner.signature.scheme == SignatureScheme::kStripe) {
      return edge::VerifyStripe(header("stripe-signature"), request.body, secrets, NowUs(),
                                partner.signature.tolerance_s)
          .ok();
    }
    return edge::VerifyStandardWebhooks(header("webhook-id"), header("webhook-timestamp"),
                                        header("webhook-signature"), request.body, secrets, NowUs(),
                                        partner.signature.tolerance_s)
        .ok();
  }

  const Config& config_;
  Mapper mapper_;
  std::size_t arrivals_ = 0;
};

}  // namespace firehose::sim::testing
