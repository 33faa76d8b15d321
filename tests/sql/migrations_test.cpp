#include "shop/sql/migrations.h"

#include <doctest/doctest.h>

#include <fstream>

#include "shop/sql/database.h"
#include "temp_dir.h"

namespace {

using shop::sql::Database;
using shop::sql::Migration;
using shop::sql::MigrationError;
using shop::sql::MigrationSet;

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::int64_t Count(Database& db, const char* sql) {
  auto stmt = db.ThisThread().Prepare(sql);
  REQUIRE(stmt.Step());
  return stmt.Int(0);
}

bool TableExists(Database& db, std::string_view name) {
  auto stmt = db.ThisThread().Prepare("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?");
  stmt.Bind(1, name);
  REQUIRE(stmt.Step());
  return stmt.Int(0) == 1;
}

const Migration kFirst{1, "migrations/t/001_items.sql", "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);"};
const Migration kSecond{2, "migrations/t/002_seed.sql", "INSERT INTO items(name) VALUES ('a'), ('b');"};

}  // namespace

TEST_CASE("fresh database gets every migration, recorded in schema_migrations") {
  shop::testing::TempDir dir;
  const Migration all[] = {kFirst, kSecond};
  auto db = Database::Open({(dir / "t.db").string()}, all);
  CHECK(Count(*db, "SELECT count(*) FROM items") == 2);
  CHECK(Count(*db, "SELECT count(*) FROM schema_migrations") == 2);
  CHECK(Count(*db, "SELECT max(version) FROM schema_migrations") == 2);
}

TEST_CASE("applying the same migrations twice is a no-op") {
  shop::testing::TempDir dir;
  const Migration all[] = {kFirst, kSecond};
  { auto db = Database::Open({(dir / "t.db").string()}, all); }
  auto db = Database::Open({(dir / "t.db").string()}, all);
  CHECK(Count(*db, "SELECT count(*) FROM items") == 2);  // the seed did not run again
  CHECK(Count(*db, "SELECT count(*) FROM schema_migrations") == 2);
}

TEST_CASE("a later migration is applied on top of earlier ones") {
  shop::testing::TempDir dir;
  { auto db = Database::Open({(dir / "t.db").string()}, std::span(&kFirst, 1)); }
  const Migration all[] = {kFirst, kSecond};
  auto db = Database::Open({(dir / "t.db").string()}, all);
  CHECK(Count(*db, "SELECT count(*) FROM items") == 2);
}

TEST_CASE("a failing migration names its file and leaves the database as it was") {
  shop::testing::TempDir dir;
  { auto db = Database::Open({(dir / "t.db").string()}, std::span(&kFirst, 1)); }
  // Creates a table, then fails: the table must not survive.
  const Migration broken{2, "migrations/t/002_broken.sql",
                         "CREATE TABLE half(id INTEGER); INSERT INTO items(name) VALUES ('x'); INSERT INTO nowhere VALUES (1);"};
  const Migration all[] = {kFirst, broken};
  try {
    Database::Open({(dir / "t.db").string()}, all);
    FAIL("expected a MigrationError");
  } catch (const MigrationError& e) {
    CHECK(std::string(e.what()).find("migrations/t/002_broken.sql") != std::string::npos);
    CHECK(std::string(e.what()).find("nowhere") != std::string::npos);
  }
  auto db = Database::Open({(dir / "t.db").string()}, std::span(&kFirst, 1));
  CHECK_FALSE(TableExists(*db, "half"));
  CHECK(Count(*db, "SELECT count(*) FROM items") == 0);
  CHECK(Count(*db, "SELECT max(version) FROM schema_migrations") == 1);
}

TEST_CASE("a database newer than the program is refused") {
  shop::testing::TempDir dir;
  const Migration all[] = {kFirst, kSecond};
  { auto db = Database::Open({(dir / "t.db").string()}, all); }
  CHECK_THROWS_AS(Database::Open({(dir / "t.db").string()}, std::span(&kFirst, 1)), MigrationError);
}

TEST_CASE("out-of-order migrations are refused before anything runs") {
  shop::testing::TempDir dir;
  const Migration all[] = {kSecond, kFirst};
  CHECK_THROWS_AS(Database::Open({(dir / "t.db").string()}, all), MigrationError);
}

TEST_CASE("migration files are loaded from a directory in version order") {
  shop::testing::TempDir dir;
  std::filesystem::create_directories(dir / "m");
  WriteFile(dir / "m" / "002_seed.sql", "INSERT INTO items(name) VALUES ('a');");
  WriteFile(dir / "m" / "001_items.sql", "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);");
  WriteFile(dir / "m" / "README.md", "not a migration");
  auto set = MigrationSet::LoadDirectory(dir / "m");
  REQUIRE(set.migrations().size() == 2);
  CHECK(set.migrations()[0].version == 1);
  CHECK(set.migrations()[1].version == 2);
  auto db = Database::Open({(dir / "t.db").string()}, set.migrations());
  CHECK(Count(*db, "SELECT count(*) FROM items") == 1);
}

TEST_CASE("a badly named migration file is refused") {
  shop::testing::TempDir dir;
  std::filesystem::create_directories(dir / "m");
  WriteFile(dir / "m" / "items.sql", "SELECT 1;");
  CHECK_THROWS_AS(MigrationSet::LoadDirectory(dir / "m"), MigrationError);
}
