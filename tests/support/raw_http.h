// A blocking HTTP/1.1 test client over a raw TCP socket, for tests that need exact bytes on
// the wire (malformed requests, smuggling attempts, slow clients) as well as ordinary ones.
// Not for production use: it trusts the server and keeps everything in memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace firehose::testing {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct RawResponse {
  int status = 0;
  HeaderList headers;
  std::string body;  // de-chunked
  // The first header with this name (case-insensitive), or empty.
  std::string Header(std::string_view name) const;
};

class RawClient {
 public:
  // Connects to 127.0.0.1:port, from `local_address` when given (any 127.x.y.z works on
  // Linux: tests use it to look like several clients). connected() says whether it worked.
  explicit RawClient(std::uint16_t port, const std::string& local_address = "");
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Shrinks the kernel's receive buffer (to make a server's write block).
  void SetReceiveBuffer(int bytes);

  // Sends every byte; false if the server has gone away.
  bool Send(std::string_view bytes);
  // Reads one complete response (Content-Length, chunked, or until close); nullopt if none
  // arrived complete within `timeout`.
  std::optional<RawResponse> Read(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads until `needle` has arrived and returns everything received up to and including it
  // (consumed); nullopt on timeout or close.
  std::optional<std::string> ReadUntil(std::string_view needle,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True if the server closes the connection (EOF or reset) within `timeout`. Bytes that
  // arrive meanwhile stay buffered for Read.
  bool WaitClosed(std::chrono::milliseconds timeout);
  void Close();

 private:
  // Reads what is available into buffer_, waiting until `deadline`; false on timeout or close.
  bool Fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  bool peer_closed_ = false;
  std::string buffer_;
};

// The raw bytes of a request. Adds Host and, when `body` is given and no framing header is in
// `headers`, Content-Length.
std::string BuildRequest(std::string_view method, std::string_view target,
                         const HeaderList& headers = {}, std::string_view body = {});

// One request on a fresh connection.
std::optional<RawResponse> RoundTrip(std::uint16_t port, std::string_view raw_request,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace firehose::testing
