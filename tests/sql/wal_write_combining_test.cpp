// The SQLite VFS shim that writes a transaction's WAL frames at once (modules/sql/src/wal_write_combining.h):
// what it holds back must never be something a commit, another connection or a crash depends on.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "shop/sql/database.h"
#include "shop/sql/migrations.h"
#include "shop/sql/sqlite.h"
#include "temp_dir.h"
#include "test_database.h"

namespace {

using shop::sql::Database;
using shop::sql::Transaction;

const bool kSqliteOnly = shop::testing::OnPostgres();

const shop::sql::Migration kRows{1, "001_rows.sql",
                                    "CREATE TABLE rows(id INTEGER PRIMARY KEY, payload TEXT NOT NULL);"};

/// Inserts `count` rows of `bytes` characters after `first` in one transaction; returns the next id.
std::int64_t InsertRows(Database& db, std::int64_t first, int count, std::size_t bytes) {
  auto& conn = db.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  for (int i = 0; i < count; ++i) {
    const std::string payload(bytes, static_cast<char>('a' + (first + i) % 26));
    conn.Prepare("INSERT INTO rows(id, payload) VALUES (?, ?)").Bind(1, first + i).Bind(2, payload).Step();
  }
  tx.Commit();
  return first + count;
}

/// Rewrites every row's payload in one transaction (pages written before in the same transaction are
/// written again: with a small cache, in place in the WAL, and the frames' checksums are redone at commit).
void RewriteRows(Database& db, char fill) {
  auto& conn = db.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  const std::string fill_text(1, fill);
  conn.Prepare("UPDATE rows SET payload = replace(hex(zeroblob(length(payload) / 2)), '0', ?)").Bind(1, fill_text).Step();
  conn.Prepare("UPDATE rows SET payload = payload || ?").Bind(1, fill_text).Step();
  tx.Commit();
}

struct Seen {
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
};

/// What a connection of its own (not the writer's) reads.
Seen ReadBack(const std::string& path) {
  shop::sql::sqlite::Connection reader(path, 2000);
  auto stmt = reader.Prepare("SELECT count(*), coalesce(sum(length(payload)), 0) FROM rows");
  REQUIRE(stmt.Step());
  return {stmt.Int(0), stmt.Int(1)};
}

bool IntegrityOk(const std::string& path) {
  shop::sql::sqlite::Connection conn(path, 2000);
  auto stmt = conn.Prepare("PRAGMA integrity_check");
  return stmt.Step() && stmt.Text(0) == "ok";
}

Database::Options NoCheckpoints(const std::string& path) {
  Database::Options options{path};
  options.checkpoint_pages = 1'000'000;  // everything stays in the WAL, where the shim writes
  return options;
}

}  // namespace

TEST_CASE("a commit's WAL frames are in the file when it returns: another connection reads them" *
          doctest::skip(kSqliteOnly)) {
  shop::testing::TempDir dir;
  const std::string path = (dir / "w.db").string();
  auto db = Database::Open(NoCheckpoints(path), std::span(&kRows, 1));
  std::int64_t next = 1, bytes = 0;
  // One page; a few pages; more than one 124 KiB write; more than the 4 MiB the shim holds at most.
  for (auto [count, size] : {std::pair{1, 10}, {20, 500}, {100, 3000}, {1500, 4000}, {1, 10}, {300, 1000}}) {
    next = InsertRows(*db, next, count, size);
    bytes += static_cast<std::int64_t>(count) * static_cast<std::int64_t>(size);
    const Seen seen = ReadBack(path);
    CHECK(seen.rows == next - 1);
    CHECK(seen.bytes == bytes);
  }
  CHECK(std::filesystem::file_size(path + "-wal") > 4 * 1024 * 1024);
}

TEST_CASE("a process killed right after its commits returned loses none of them" * doctest::skip(kSqliteOnly)) {
  shop::testing::TempDir dir;
  const std::string path = (dir / "k.db").string();
  Database::Open(NoCheckpoints(path), std::span(&kRows, 1)).reset();
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(report[0]);
    try {
      auto db = Database::Open(NoCheckpoints(path), std::span(&kRows, 1));
      // A tiny page cache: big transactions spill pages to the WAL before their commit and write some
      // again in place, so the commit rewrites frame checksums (wal.c walRewriteChecksums).
      db->ThisThread().Exec("PRAGMA cache_size=4");
      std::int64_t next = 1;
      for (int round = 0; round < 6; ++round) {
        next = InsertRows(*db, next, 1, 10);
        next = InsertRows(*db, next, 200, 700);
        RewriteRows(*db, static_cast<char>('0' + round));  // the last commit before the kill rewrote checksums
        const std::int64_t committed = next - 1;
        if (::write(report[1], &committed, sizeof committed) != sizeof committed) ::_exit(3);
      }
      ::raise(SIGKILL);  // the database still open: no close, only what reached the file survives
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(4);
  }
  ::close(report[1]);
  std::int64_t committed = 0, value = 0;
  while (::read(report[0], &value, sizeof value) == sizeof value) committed = value;
  ::close(report[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  CHECK(committed == 6 * 201);
  CHECK(ReadBack(path).rows == committed);
  CHECK(IntegrityOk(path));
  shop::sql::sqlite::Connection conn(path, 2000);
  auto last_rewrite = conn.Prepare("SELECT count(*) FROM rows WHERE payload GLOB '5*5'");
  REQUIRE(last_rewrite.Step());
  CHECK(last_rewrite.Int(0) == committed);
}

TEST_CASE("a commit whose frames cannot be written fails, and none of it is seen" * doctest::skip(kSqliteOnly)) {
  shop::testing::TempDir dir;
  const std::string path = (dir / "f.db").string();
  {
    auto db = Database::Open(NoCheckpoints(path), std::span(&kRows, 1));
    InsertRows(*db, 1, 10, 100);
  }
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int status = 0;
    try {
      auto db = Database::Open(NoCheckpoints(path), std::span(&kRows, 1));
      InsertRows(*db, 11, 1, 10);  // the WAL is open and has grown past its header
      // Files may grow 200 KiB more: a transaction of ~1 MiB cannot be written (EFBIG, not a signal).
      ::signal(SIGXFSZ, SIG_IGN);
      const auto limit = static_cast<rlim_t>(std::filesystem::file_size(path + "-wal") + 200 * 1024);
      const rlimit fsize{limit, limit};
      if (::setrlimit(RLIMIT_FSIZE, &fsize) != 0) ::_exit(5);
      try {
        InsertRows(*db, 12, 1000, 1000);
        status = 1;  // the commit claimed success
      } catch (const shop::sql::Error&) {
      }
      if (ReadBack(path).rows != 11) status = 6;
      InsertRows(*db, 12, 1, 10);  // and the database goes on
      if (ReadBack(path).rows != 12) status = 7;
    } catch (...) {
      status = 2;
    }
    ::_exit(status);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(ReadBack(path).rows == 12);
  CHECK(IntegrityOk(path));
}

TEST_CASE("frames of a transaction that rolled back never land on another connection's commit" *
          doctest::skip(kSqliteOnly)) {
  shop::testing::TempDir dir;
  const std::string path = (dir / "r.db").string();
  Database::Open(NoCheckpoints(path), std::span(&kRows, 1)).reset();
  shop::sql::sqlite::Connection a(path, 2000), b(path, 2000);
  a.Exec("PRAGMA cache_size=2");  // A's big transaction spills pages to the WAL before it ends
  for (int round = 0; round < 3; ++round) {
    a.Exec("BEGIN IMMEDIATE");
    for (int i = 0; i < 300; ++i) {
      const std::string payload(900, 'x');
      a.Prepare("INSERT INTO rows(payload) VALUES (?)").Bind(1, payload).Step();
    }
    a.Exec("ROLLBACK");
    // B appends where A's frames were, and commits.
    std::string payload = "b";
    payload += std::to_string(round);
    b.Prepare("INSERT INTO rows(payload) VALUES (?)").Bind(1, payload).Step();
    // A reads (its WAL file is touched again), then a third connection reads B's rows back.
    auto count = a.Prepare("SELECT count(*) FROM rows");
    REQUIRE(count.Step());
    CHECK(count.Int(0) == round + 1);
    const Seen seen = ReadBack(path);
    CHECK(seen.rows == round + 1);
    CHECK(seen.bytes == 2 * (round + 1));
    CHECK(IntegrityOk(path));
  }
}
