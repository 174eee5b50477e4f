// A real PostgreSQL server for tests: initdb + pg_ctl on a random loopback port in a temp
// directory, one per test process, stopped (and its directory removed) at exit.
//
// The first process on a machine runs initdb into a template cluster
// ($TMPDIR/firehose-pg-template-<major>); every later one copies it (much faster than
// initdb). As root the server runs as the `postgres` user (initdb refuses root).
// The binaries are found in /usr/lib/postgresql/<major>/bin (Debian's `postgresql` package,
// scripts/deps.sh --test) or $FIREHOSE_PG_BIN.
#pragma once

#include <filesystem>
#include <string>

#include "core/status.h"

namespace firehose::warehouse::testing {

class PostgresTestServer {
 public:
  // The process's server, started on first use. FailedPrecondition (with why) if PostgreSQL's
  // server binaries are not installed.
  static Result<PostgresTestServer*> Shared();

  // Creates a new empty database and returns its connection URL.
  Result<std::string> CreateDatabase();
  // The URL of the maintenance database `postgres`.
  std::string AdminUrl() const { return UrlFor("postgres"); }
  std::string UrlFor(const std::string& database) const;
  int port() const { return port_; }

  ~PostgresTestServer();

 private:
  PostgresTestServer() = default;
  Status Start();

  std::filesystem::path dir_;
  std::filesystem::path bin_;
  int port_ = 0;
  int databases_ = 0;
  bool running_ = false;
};

}  // namespace firehose::warehouse::testing
