// shop::testing::PgServer (tests/support/pg_server.h), the PostgreSQL server future contract suites start: a server
// libpq can use at url(), on loopback only, as an unprivileged user, gone with its directory after Stop() or the
// destructor. Exits 77 (CTest: skipped) when PostgreSQL 15 is not installed.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "pg_server.h"

namespace {

using shop::testing::PgServer;

void SkipUnlessInstalled() {
  if (PgServer::Installed()) return;
  std::puts("SKIPPED: PostgreSQL 15 is not installed (apt-get install postgresql-15; .ci/install-deps.sh does)");
  std::fflush(stdout);
  std::exit(77);
}

// A process is gone when /proc has no entry for it, or only an exited one not yet reaped by init (state Z).
bool Alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, name, state;
  if (!(stat >> pid_field >> name >> state)) return false;
  return state != "Z";
}

struct Connection {
  explicit Connection(const std::string& url) : conn(PQconnectdb(url.c_str()), &PQfinish) {}
  bool ok() const { return PQstatus(conn.get()) == CONNECTION_OK; }
  std::string Error() const { return PQerrorMessage(conn.get()); }
  /// The first column of the first row, or "ERROR: ..." when the query fails.
  std::string Value(const char* sql) const {
    std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql), &PQclear);
    const ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COMMAND_OK) return "";
    if (status != PGRES_TUPLES_OK) return std::string("ERROR: ") + PQresultErrorMessage(result.get());
    return PQntuples(result.get()) > 0 ? PQgetvalue(result.get(), 0, 0) : "";
  }
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn;
};

TEST_CASE("PgServer: libpq connects at url(), on 127.0.0.1 only, to a server run by an unprivileged user") {
  SkipUnlessInstalled();
  PgServer server;
  Connection conn(server.url());
  REQUIRE_MESSAGE(conn.ok(), conn.Error());
  CHECK(conn.Value("SELECT current_user") == "postgres");
  CHECK(conn.Value("SHOW listen_addresses") == "127.0.0.1");
  CHECK(conn.Value("SHOW unix_socket_directories").empty());
  CHECK(conn.Value("SELECT inet_server_port()") == std::to_string(server.port()));
  CHECK(conn.Value("SHOW fsync") == "off");

  const passwd* me = ::getpwuid(::geteuid());
  REQUIRE(me != nullptr);
  CHECK(server.os_user() == (::geteuid() == 0 ? "nobody" : me->pw_name));
  CHECK(std::filesystem::exists(server.dir() / "data" / "PG_VERSION"));

  // Url() percent-encodes: a password with characters a URL reserves still logs in.
  CHECK(conn.Value("CREATE ROLE probe LOGIN PASSWORD 'p@ss:w/rd %?'").empty());
  CHECK(conn.Value("CREATE DATABASE probe_db OWNER probe").empty());
  Connection probe(server.Url("probe", "p@ss:w/rd %?", "probe_db"));
  REQUIRE_MESSAGE(probe.ok(), probe.Error());
  CHECK(probe.Value("SELECT current_user || ' ' || current_database()") == "probe probe_db");
  Connection wrong(server.Url("probe", "wrong", "probe_db"));
  CHECK_FALSE(wrong.ok());

  const pid_t pid = server.pid();
  const std::filesystem::path dir = server.dir();
  CHECK(Alive(pid));
  CHECK(server.Stop());
  CHECK_FALSE(Alive(pid));
  CHECK_FALSE(std::filesystem::exists(dir));
  CHECK(server.pid() == -1);
  CHECK(server.Stop());  // again: nothing to do
}

TEST_CASE("PgServer: the destructor stops the server and removes its directory") {
  SkipUnlessInstalled();
  pid_t pid = -1;
  std::filesystem::path dir;
  {
    PgServer server;
    pid = server.pid();
    dir = server.dir();
    REQUIRE(Alive(pid));
  }
  CHECK_FALSE(Alive(pid));
  CHECK_FALSE(std::filesystem::exists(dir));
}

}  // namespace
