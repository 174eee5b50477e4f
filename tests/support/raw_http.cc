#include "support/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace firehose::testing {

namespace {

using Clock = std::chrono::steady_clock;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

enum class Parse { kComplete, kNeedMore, kUntilClose };

// Decodes a chunked body starting at `from`; sets *end past the last chunk's trailer.
Parse DecodeChunked(const std::string& buffer, std::size_t from, std::string* body,
                    std::size_t* end) {
  std::size_t at = from;
  body->clear();
  for (;;) {
    const std::size_t line_end = buffer.find("\r\n", at);
    if (line_end == std::string::npos) return Parse::kNeedMore;
    std::size_t size = 0;
    std::from_chars(buffer.data() + at, buffer.data() + line_end, size, 16);
    at = line_end + 2;
    if (size == 0) {
      const std::size_t trailer_end = buffer.find("\r\n", at);
      if (trailer_end == std::string::npos) return Parse::kNeedMore;
      *end = trailer_end + 2;
      return Parse::kComplete;
    }
    if (buffer.size() < at + size + 2) return Parse::kNeedMore;
    body->append(buffer, at, size);
    at += size + 2;
  }
}

// Parses one response at the front of `buffer`.
Parse ParseResponse(const std::string& buffer, bool peer_closed, RawResponse* response,
                    std::size_t* consumed) {
  const std::size_t head_end = buffer.find("\r\n\r\n");
  if (head_end == std::string::npos) return Parse::kNeedMore;
  std::string_view head(buffer.data(), head_end);
  const std::size_t status_line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, status_line_end);
  if (status_line.size() < 12) return Parse::kNeedMore;
  *response = RawResponse{};
  std::from_chars(status_line.data() + 9, status_line.data() + 12, response->status);
  std::string_view rest = status_line_end == std::string_view::npos
                              ? std::string_view()
                              : head.substr(status_line_end + 2);
  while (!rest.empty()) {
    const std::size_t line_end = rest.find("\r\n");
    const std::string_view line = rest.substr(0, line_end);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      response->headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                                     std::string(Trim(line.substr(colon + 1))));
    }
    if (line_end == std::string_view::npos) break;
    rest.remove_prefix(line_end + 2);
  }
  const std::size_t body_start = head_end + 4;
  if (response->status < 200 || response->status == 204 || response->status == 304) {
    *consumed = body_start;
    return Parse::kComplete;
  }
  if (EqualsIgnoreCase(response->Header("Transfer-Encoding"), "chunked")) {
    return DecodeChunked(buffer, body_start, &response->body, consumed);
  }
  const std::string length_text = response->Header("Content-Length");
  if (!length_text.empty()) {
    std::size_t length = 0;
    std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
    if (buffer.size() < body_start + length) return Parse::kNeedMore;
    response->body = buffer.substr(body_start, length);
    *consumed = body_start + length;
    return Parse::kComplete;
  }
  if (!peer_closed) return Parse::kUntilClose;
  response->body = buffer.substr(body_start);
  *consumed = buffer.size();
  return Parse::kComplete;
}

}  // namespace

std::string RawResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

RawClient::RawClient(std::uint16_t port, const std::string& local_address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (!local_address.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, local_address.c_str(), &local.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      ::close(fd);
      return;
    }
  }
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(port);
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) {
    ::close(fd);
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fd_ = fd;
}

RawClient::~RawClient() { Close(); }

void RawClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawClient::SetReceiveBuffer(int bytes) {
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

bool RawClient::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

bool RawClient::Fill(Clock::time_point deadline) {
  if (peer_closed_ || fd_ < 0) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  pollfd descriptor{fd_, POLLIN, 0};
  const int ready = ::poll(&descriptor, 1, static_cast<int>(left.count()));
  if (ready <= 0) return false;
  char chunk[64 * 1024];
  const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
  if (got <= 0) {
    peer_closed_ = true;
    return false;
  }
  buffer_.append(chunk, static_cast<std::size_t>(got));
  return true;
}

std::optional<RawResponse> RawClient::Read(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    RawResponse response;
    std::size_t consumed = 0;
    const Parse state = ParseResponse(buffer_, peer_closed_, &response, &consumed);
    if (state == Parse::kComplete) {
      buffer_.erase(0, consumed);
      return response;
    }
    if (!Fill(deadline)) {
      if (!peer_closed_) return std::nullopt;
      // The peer closed: one more parse may complete a read-until-close body.
      if (ParseResponse(buffer_, true, &response, &consumed) == Parse::kComplete) {
        buffer_.erase(0, consumed);
        return response;
      }
      return std::nullopt;
    }
  }
}

std::optional<std::string> RawClient::ReadUntil(std::string_view needle,
                                                std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    const std::size_t found = buffer_.find(needle);
    if (found != std::string::npos) {
      std::string text = buffer_.substr(0, found + needle.size());
      buffer_.erase(0, found + needle.size());
      return text;
    }
    if (!Fill(deadline)) return std::nullopt;
  }
}

bool RawClient::WaitClosed(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!peer_closed_) {
    if (!Fill(deadline) && !peer_closed_) return false;
  }
  return true;
}

std::string BuildRequest(std::string_view method, std::string_view target,
                         const HeaderList& headers, std::string_view body) {
  std::string request;
  request.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  bool has_host = false;
  bool has_framing = false;
  for (const auto& [name, value] : headers) {
    has_host = has_host || EqualsIgnoreCase(name, "Host");
    has_framing = has_framing || EqualsIgnoreCase(name, "Content-Length") ||
                  EqualsIgnoreCase(name, "Transfer-Encoding");
  }
  if (!has_host) request.append("Host: 127.0.0.1\r\n");
  for (const auto& [name, value] : headers)
    request.append(name).append(": ").append(value).append("\r\n");
  if (!has_framing && !body.empty()) {
    request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  request.append("\r\n").append(body);
  return request;
}

std::optional<RawResponse> RoundTrip(std::uint16_t port, std::string_view raw_request,
                                     std::chrono::milliseconds timeout) {
  RawClient client(port);
  if (!client.connected() || !client.Send(raw_request)) return std::nullopt;
  return client.Read(timeout);
}

}  // namespace firehose::testing
