#include "warehouse/postgres_test_server.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

namespace firehose::warehouse::testing {

namespace {

namespace fs = std::filesystem;

// Single-quotes `text` for /bin/sh.
std::string Quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

bool IsRoot() { return ::geteuid() == 0; }

// Runs `command` through the shell (as `postgres` when root); its output goes to `log`.
Status Run(const std::string& command, const fs::path& log) {
  const std::string as_user = IsRoot() ? "runuser -u postgres -- sh -c " + Quote(command) : command;
  const std::string full = as_user + " >> " + Quote(log.string()) + " 2>&1";
  const int status = std::system(full.c_str());
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Internal("postgres test server: '" + command + "' failed; see " + log.string());
  }
  return Status::Ok();
}

Result<fs::path> FindBinaries() {
  if (const char* bin = std::getenv("FIREHOSE_PG_BIN"); bin != nullptr && *bin != '\0') {
    return fs::path(bin);
  }
  std::vector<fs::path> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", error)) {
    if (fs::exists(entry.path() / "bin" / "initdb")) found.push_back(entry.path() / "bin");
  }
  if (found.empty()) {
    return FailedPrecondition(
        "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): install "
        "Debian's postgresql package (scripts/deps.sh --test) or set FIREHOSE_PG_BIN");
  }
  std::sort(found.begin(), found.end());
  return found.back();
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

Status OwnByPostgres(const fs::path& path) {
  if (!IsRoot()) return Status::Ok();
  const passwd* user = ::getpwnam("postgres");
  if (user == nullptr) return FailedPrecondition("postgres test server: no 'postgres' user");
  if (::chown(path.c_str(), user->pw_uid, user->pw_gid) != 0) {
    return ErrnoStatus("chown " + path.string(), errno);
  }
  return Status::Ok();
}

}  // namespace

Result<PostgresTestServer*> PostgresTestServer::Shared() {
  static std::mutex mutex;
  static std::unique_ptr<PostgresTestServer> server;
  static Status failed = Status::Ok();
  std::lock_guard lock(mutex);
  if (server) return server.get();
  if (!failed.ok()) return failed;
  std::unique_ptr<PostgresTestServer> started(new PostgresTestServer());
  failed = started->Start();
  if (!failed.ok()) return failed;
  server = std::move(started);
  // Stopped by the static's destructor at exit.
  return server.get();
}

Status PostgresTestServer::Start() {
  FH_ASSIGN_OR_RETURN(bin_, FindBinaries());
  const fs::path temp = fs::temp_directory_path();
  std::string pattern = (temp / "firehose-pg-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) return ErrnoStatus("mkdtemp", errno);
  dir_ = pattern;
  FH_RETURN_IF_ERROR(OwnByPostgres(dir_));
  const fs::path log = dir_ / "setup.log";

  // The template cluster: made once per machine by whichever test gets there first.
  const fs::path template_dir =
      temp / ("firehose-pg-template-" + bin_.parent_path().filename().string());
  if (!fs::exists(template_dir / "PG_VERSION")) {
    const fs::path fresh = dir_ / "template";
    FH_RETURN_IF_ERROR(Run((bin_ / "initdb").string() + " -D " + Quote(fresh.string()) +
                               " -U postgres -A trust -E UTF8 --locale=C --no-sync",
                           log));
    std::error_code error;
    fs::rename(fresh, template_dir, error);  // another process may have won: use theirs
  }
  const fs::path data = dir_ / "data";
  FH_RETURN_IF_ERROR(
      Run("cp -a " + Quote(template_dir.string()) + " " + Quote(data.string()), log));
  FH_RETURN_IF_ERROR(Run("chmod 700 " + Quote(data.string()), log));

  // A few attempts in case the free port is taken between the probe and the bind.
  Status started = Status::Ok();
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreePort();
    const std::string options = "-p " + std::to_string(port_) + " -k " + dir_.string() +
                                " -c listen_addresses=127.0.0.1 -c max_connections=100"
                                " -c shared_buffers=16MB";
    started =
        Run((bin_ / "pg_ctl").string() + " -D " + Quote(data.string()) + " -l " +
                Quote((dir_ / "server.log").string()) + " -w -t 60 -o " + Quote(options) + " start",
            log);
    if (started.ok()) break;
  }
  FH_RETURN_IF_ERROR(started);
  running_ = true;
  return Status::Ok();
}

std::string PostgresTestServer::UrlFor(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

Result<std::string> PostgresTestServer::CreateDatabase() {
  const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
  PGconn* conn = PQconnectdb(AdminUrl().c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    return Unavailable("postgres test server: " + message);
  }
  PGresult* result = PQexec(conn, ("CREATE DATABASE " + name).c_str());
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  const std::string message = PQerrorMessage(conn);
  PQclear(result);
  PQfinish(conn);
  if (!ok) return Internal("postgres test server: CREATE DATABASE: " + message);
  return UrlFor(name);
}

PostgresTestServer::~PostgresTestServer() {
  if (running_) {
    (void)Run((bin_ / "pg_ctl").string() + " -D " + Quote((dir_ / "data").string()) +
                  " -m immediate -w stop",
              dir_ / "setup.log");
  }
  std::error_code error;
  if (!dir_.empty()) fs::remove_all(dir_, error);
}

}  // namespace firehose::warehouse::testing
