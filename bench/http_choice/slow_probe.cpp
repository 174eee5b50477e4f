// Slow-client probe for the bake-off: how long does a server keep a connection that
// never completes a request? usage: slow_probe PORT MODE CAP_S
//   idle   : connect, send nothing
//   header : send the request line, then one header line every 500 ms (never ends headers)
//   body   : full headers with Content-Length: 624, then one body byte every 500 ms
// Prints: mode=.. result=closed|open_at_cap after_s=.. status=<first status code or ->
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  signal(SIGPIPE, SIG_IGN);
  const int port = std::atoi(argv[1]);
  const std::string mode = argv[2];
  const double cap = std::atof(argv[3]);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (sockaddr*)&a, sizeof a) != 0) { perror("connect"); return 1; }
  auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  auto say = [&](const std::string& s) { return send(fd, s.data(), s.size(), MSG_NOSIGNAL) >= 0; };
  if (mode == "header") say("POST /v1/webhooks/acme HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  if (mode == "body")
    say("POST /v1/webhooks/acme HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 624\r\n\r\n{");
  std::string status = "-";
  bool closed = false;
  int n = 0;
  while (!closed && elapsed() < cap) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 500) > 0) {
      char buf[512];
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r <= 0) { closed = true; break; }
      if (status == "-" && r >= 12 && std::strncmp(buf, "HTTP/1.", 7) == 0) status.assign(buf + 9, 3);
      continue;
    }
    bool ok = true;
    if (mode == "header") ok = say("X-Trickle-" + std::to_string(n++) + ": y\r\n");
    if (mode == "body") ok = say("x");
    if (!ok) closed = true;
  }
  std::printf("mode=%s result=%s after_s=%.1f status=%s\n", mode.c_str(),
              closed ? "closed" : "open_at_cap", elapsed(), status.c_str());
  close(fd);
  return 0;
}
