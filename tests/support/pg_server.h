#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace shop::testing {

/// A PostgreSQL 15 server for a test, started and stopped by tests/support/pg_server.sh (the same fixture the
/// shell tests source): initdb in a fresh temporary directory, run as an unprivileged user (`nobody` when the test
/// runs as root), listening on 127.0.0.1 only, on a free port, no Unix socket, durability off. Stop() or the
/// destructor stops it by its PID and removes the directory; if the test process dies first (kill -9, a CTest
/// timeout), the script's watchdog does. No libpq here: a test connects with whatever client it tests.
class PgServer {
 public:
  /// Thrown by the constructor when PostgreSQL 15 is not installed (a test reports it and skips).
  struct NotInstalled : std::runtime_error {
    using std::runtime_error::runtime_error;
  };

  /// True when the server's executables are there (Debian's postgresql-15, or $PG_SERVER_BIN).
  static bool Installed();

  /// Starts it and waits, within a deadline, until the superuser can connect. Throws NotInstalled, or
  /// std::runtime_error with the script's output (the reason and the server's log) when it cannot start.
  PgServer();
  ~PgServer();  ///< Stop()
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  /// Stops the server (fast shutdown, escalating to SIGKILL, by PID) and removes its directory. True when nothing
  /// of it is left running. Safe to call again.
  bool Stop();

  /// postgresql://postgres:PASSWORD@127.0.0.1:PORT/postgres: the superuser, in database `postgres`.
  const std::string& url() const { return url_; }
  /// A URL for `user` with `password` in `database` on this server (each part percent-encoded).
  std::string Url(std::string_view user, std::string_view password, std::string_view database) const;
  std::uint16_t port() const { return port_; }
  /// The postmaster's PID; -1 once stopped.
  pid_t pid() const { return pid_; }
  /// Data in dir()/data, the server's log in dir()/server.log; empty once stopped.
  const std::filesystem::path& dir() const { return dir_; }
  /// The operating system user the server runs as.
  const std::string& os_user() const { return os_user_; }

 private:
  std::string url_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::filesystem::path dir_;
  std::string os_user_;
};

}  // namespace shop::testing
