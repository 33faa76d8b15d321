// The PostgreSQL backend's own behaviour: parameters, secrets in messages, LISTEN/NOTIFY for caches
// across instances, and what happens when the server drops a session. The cases that need a server
// run in sql_test_on_postgres (SHOP_TEST_DATABASE=postgres) and skip on the SQLite run.
#include "shop/sql/postgres.h"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "shop/sql/migrations.h"
#include "temp_dir.h"
#include "test_database.h"

namespace {

using shop::sql::Database;
using shop::sql::Transaction;
using shop::sql::postgres::Redact;
using shop::sql::postgres::RewriteParameters;

const bool kNeedsServer = !shop::testing::OnPostgres();
const shop::sql::Migration kSchema{1, "001_counter.sql",
                                   "CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
                                   "INSERT INTO counter VALUES (1, 0);"};

/// What a Listen subscription saw, for a test to wait on.
struct Heard {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<std::string> keys;
  std::vector<bool> states;  // on_listening calls, in order

  void Key(std::string_view key) {
    std::lock_guard lock(mu);
    keys.emplace_back(key);
    changed.notify_all();
  }
  void State(bool listening) {
    std::lock_guard lock(mu);
    states.push_back(listening);
    changed.notify_all();
  }
  /// Waits (at most 10 s) until `done()` holds; true when it does.
  template <class Pred>
  bool WaitFor(Pred done) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, std::chrono::seconds(10), done);
  }
};

std::int64_t QueryInt(Database& db, const std::string& sql) {
  auto st = db.ThisThread().Prepare(sql);
  REQUIRE(st.Step());
  return st.Int(0);
}

}  // namespace

TEST_CASE("SQLite's ? and ?N parameters become $N, quoted text untouched") {
  CHECK(RewriteParameters("SELECT ? , ?") == std::pair<std::string, int>("SELECT $1 , $2", 2));
  CHECK(RewriteParameters("UPDATE t SET a = ?2 WHERE b = ?1 AND c >= ?2") ==
        std::pair<std::string, int>("UPDATE t SET a = $2 WHERE b = $1 AND c >= $2", 2));
  CHECK(RewriteParameters("SELECT '?', \"a?\", ? FROM t WHERE x = 'it''s ?'") ==
        std::pair<std::string, int>("SELECT '?', \"a?\", $1 FROM t WHERE x = 'it''s ?'", 1));
  // A bare ? after ?N is one more than the highest so far, as in SQLite.
  CHECK(RewriteParameters("VALUES (?3, ?)") == std::pair<std::string, int>("VALUES ($3, $4)", 4));
  CHECK(RewriteParameters("SELECT 1").second == 0);
}

TEST_CASE("a database URL in messages never shows its password") {
  CHECK(Redact("postgresql://shop:s3cret@db:5432/products") == "postgresql://shop@db:5432/products");
  CHECK(Redact("postgres://u:p@h/d?sslmode=disable&password=x&a=b") == "postgres://u@h/d?sslmode=disable&password=***&a=b");
  CHECK(Redact("postgresql://u@h/d?password=x") == "postgresql://u@h/d?password=***");
  CHECK(Redact("postgresql://h/d?passfile=/run/secrets/pg") == "postgresql://h/d?passfile=/run/secrets/pg");
  // An @ in the path is not a user's part.
  CHECK(Redact("postgresql://h/d@x") == "postgresql://h/d@x");
}

TEST_CASE("a server that cannot be reached is an error naming it, without the password") {
  try {
    Database::Open({"postgresql://nobody:topsecret@127.0.0.1:1/none?connect_timeout=2"}, std::span(&kSchema, 1));
    FAIL("expected sql::Error");
  } catch (const shop::sql::Error& e) {
    const std::string what = e.what();
    CHECK(what.find("127.0.0.1") != std::string::npos);
    CHECK(what.find("topsecret") == std::string::npos);
    CHECK(e.sqlstate() == "08001");
  }
}

TEST_CASE("an announcement reaches every listener once its transaction commits, never when rolled back" *
          doctest::skip(kNeedsServer)) {
  shop::testing::TempDir dir;
  const std::string where = shop::testing::FreshDatabase(dir.path(), "t.db");
  auto writer = Database::Open({where}, std::span(&kSchema, 1));
  auto reader = Database::Open({where}, std::span(&kSchema, 1));
  Heard heard;
  auto listening = reader->Listen(
      "t_changes", [&](std::string_view key) { heard.Key(key); }, [&](bool on) { heard.State(on); });
  REQUIRE(listening);
  REQUIRE(heard.WaitFor([&] { return !heard.states.empty(); }));
  CHECK(heard.states.front());
  {
    Transaction tx(writer->ThisThread(), Transaction::Kind::kWrite);
    writer->Announce(writer->ThisThread(), "t_changes", "rolled-back");
  }
  {
    Transaction tx(writer->ThisThread(), Transaction::Kind::kWrite);
    writer->Announce(writer->ThisThread(), "t_changes", "7,9");
    writer->Announce(writer->ThisThread(), "other_channel", "x");
    // Not before commit: nothing is heard while the transaction is open. (Checked after the
    // commit below: the first key heard is the committed one.)
    tx.Commit();
  }
  REQUIRE(heard.WaitFor([&] { return !heard.keys.empty(); }));
  std::lock_guard lock(heard.mu);
  CHECK(heard.keys == std::vector<std::string>{"7,9"});
}

TEST_CASE("a listening session the server drops is reported, made again, and heard again" * doctest::skip(kNeedsServer)) {
  shop::testing::TempDir dir;
  const std::string where = shop::testing::FreshDatabase(dir.path(), "t.db");
  auto db = Database::Open({where}, std::span(&kSchema, 1));
  Heard heard;
  auto listening = db->Listen(
      "t_changes", [&](std::string_view key) { heard.Key(key); }, [&](bool on) { heard.State(on); });
  REQUIRE(heard.WaitFor([&] { return heard.states.size() == 1; }));
  // The server ends the session (as a restart or a network cut would).
  CHECK(QueryInt(*db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      "WHERE query LIKE 'LISTEN %t_changes%' AND pid <> pg_backend_pid()") == 1);
  REQUIRE(heard.WaitFor([&] { return heard.states.size() >= 3; }));
  {
    std::lock_guard lock(heard.mu);
    CHECK(heard.states[1] == false);
    CHECK(heard.states[2] == true);
  }
  Transaction tx(db->ThisThread(), Transaction::Kind::kWrite);
  db->Announce(db->ThisThread(), "t_changes", "after");
  tx.Commit();
  REQUIRE(heard.WaitFor([&] { return !heard.keys.empty(); }));
  std::lock_guard lock(heard.mu);
  CHECK(heard.keys.back() == "after");
}

namespace {

/// Ends the server session `pid` from `admin` (a superuser's session), waiting (at most 5 s) until it is gone, as
/// a server restart or a network cut would end it.
void Terminate(Database& admin, std::int64_t pid) {
  REQUIRE(QueryInt(admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid)) == 1);
  REQUIRE(QueryInt(admin, "SELECT count(pg_terminate_backend(" + std::to_string(pid) + ", 5000))") == 1);
  REQUIRE(QueryInt(admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid)) == 0);
}

}  // namespace

TEST_CASE("a session the server dropped is made again at the start of the next unit of work: the call succeeds" *
          doctest::skip(kNeedsServer)) {
  shop::testing::TempDir dir;
  const std::string where = shop::testing::FreshDatabase(dir.path(), "t.db");  // the superuser's URL
  auto db = Database::Open({where}, std::span(&kSchema, 1));
  auto admin = Database::Open({where}, std::span(&kSchema, 1));
  auto& conn = db->ThisThread();
  int commits = 0;
  db->AddCommitListener([&] { ++commits; });
  // Prepared on the first session: used again on the next one, where it must be prepared again.
  const std::string read = "SELECT n FROM counter WHERE id = 1";
  CHECK(QueryInt(*db, read) == 0);
  const std::int64_t first = QueryInt(*db, "SELECT pg_backend_pid()");

  SUBCASE("a plain read, outside a transaction") {
    Terminate(*admin, first);
    CHECK(QueryInt(*db, read) == 0);
  }
  SUBCASE("a transaction: its BEGIN finds the session lost") {
    Terminate(*admin, first);
    {
      Transaction tx(conn, Transaction::Kind::kWrite);
      conn.Prepare("UPDATE counter SET n = n + 1 WHERE id = ?").Bind(1, 1).Step();
      tx.Commit();
    }
    CHECK(commits == 1);
    CHECK(QueryInt(*db, read) == 1);
  }
  SUBCASE("a write outside a transaction, and Ping") {
    Terminate(*admin, first);
    conn.Prepare("UPDATE counter SET n = 7 WHERE id = 1").Step();
    CHECK(conn.Changes() == 1);
    CHECK(commits == 1);
    Terminate(*admin, QueryInt(*db, "SELECT pg_backend_pid()"));
    CHECK(db->Ping());
    CHECK(QueryInt(*db, read) == 7);
  }
  // The same connection, on a new session.
  CHECK(&db->ThisThread() == &conn);
  CHECK(QueryInt(*db, "SELECT pg_backend_pid()") != first);
}

TEST_CASE("a session lost inside a transaction fails that transaction and nothing of it is run again" *
          doctest::skip(kNeedsServer)) {
  shop::testing::TempDir dir;
  const std::string where = shop::testing::FreshDatabase(dir.path(), "t.db");
  auto db = Database::Open({where}, std::span(&kSchema, 1));
  auto admin = Database::Open({where}, std::span(&kSchema, 1));
  auto& conn = db->ThisThread();
  int commits = 0;
  db->AddCommitListener([&] { ++commits; });
  const std::string bump = "UPDATE counter SET n = n + 1 WHERE id = 1";
  {
    Transaction tx(conn, Transaction::Kind::kWrite);
    conn.Prepare(bump).Step();
    Terminate(*admin, QueryInt(*db, "SELECT pg_backend_pid()"));
    // Neither the next statement nor the commit may run on a new session: the first update is gone.
    CHECK_THROWS_AS(conn.Prepare(bump).Step(), shop::sql::Error);
    CHECK_THROWS_AS(tx.Commit(), shop::sql::Error);
  }
  CHECK(commits == 0);
  // The unit is over: the next one gets a new session, and sees nothing of the lost one.
  CHECK(QueryInt(*db, "SELECT n FROM counter WHERE id = 1") == 0);
  {
    Transaction tx(conn, Transaction::Kind::kWrite);
    conn.Prepare(bump).Step();
    tx.Commit();
  }
  CHECK(commits == 1);
  CHECK(QueryInt(*db, "SELECT n FROM counter WHERE id = 1") == 1);
}

TEST_CASE("a transaction a failed statement aborted does not commit" * doctest::skip(kNeedsServer)) {
  shop::testing::TempDir dir;
  auto db = Database::Open({shop::testing::FreshDatabase(dir.path(), "t.db")}, std::span(&kSchema, 1));
  auto& conn = db->ThisThread();
  int commits = 0;
  db->AddCommitListener([&] { ++commits; });
  {
    Transaction tx(conn, Transaction::Kind::kWrite);
    conn.Prepare("UPDATE counter SET n = 5 WHERE id = 1").Step();
    CHECK_THROWS_AS(conn.Prepare("INSERT INTO counter VALUES (1, 1)").Step(), shop::sql::Error);
    CHECK_THROWS_AS(tx.Commit(), shop::sql::Error);
  }
  CHECK(commits == 0);
  CHECK(QueryInt(*db, "SELECT n FROM counter WHERE id = 1") == 0);
  // The connection is usable again, and an autocommitted write tells the commit listeners too.
  conn.Prepare("UPDATE counter SET n = 6 WHERE id = 1").Step();
  CHECK(commits == 1);
  CHECK(QueryInt(*db, "SELECT n FROM counter WHERE id = 1") == 6);
}
