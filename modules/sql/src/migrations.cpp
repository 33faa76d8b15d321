#include "shop/sql/migrations.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "shop/sql/database.h"

namespace shop::sql {

void ApplyMigrations(Connection& conn, std::span<const Migration> migrations) {
  for (std::size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version <= migrations[i - 1].version) {
      throw MigrationError("migration " + std::string(migrations[i].name) + " is out of order or duplicates version " +
                           std::to_string(migrations[i].version));
    }
  }
  const bool postgres = conn.dialect() == Dialect::kPostgres;
  // The same columns as migrations/postgres/apply.sh makes, so either may bring a database up to date.
  if (postgres) {
    Transaction tx(conn, Transaction::Kind::kWrite);
    conn.Exec("SELECT pg_advisory_xact_lock(hashtext('shop.schema_migrations'))");
    conn.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT "
        "(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')))");
    tx.Commit();
  } else {
    conn.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT "
        "(strftime('%Y-%m-%dT%H:%M:%SZ','now')))");
  }

  std::map<int, std::string> applied;
  {
    auto stmt = conn.Prepare("SELECT version, name FROM schema_migrations");
    while (stmt.Step()) applied.emplace(static_cast<int>(stmt.Int(0)), stmt.Text(1));
  }
  for (const auto& [version, name] : applied) {
    auto known = std::ranges::find(migrations, version, &Migration::version);
    if (known == migrations.end()) {
      throw MigrationError("database has migration " + name + " (version " + std::to_string(version) +
                           ") that this program does not know; is it older than the database?");
    }
  }

  for (const Migration& m : migrations) {
    if (applied.contains(m.version)) continue;
    try {
      Transaction tx(conn, Transaction::Kind::kWrite);
      // Several processes may open one database at once (instances of a service sharing it): the
      // write lock (SQLite) or the advisory lock (PostgreSQL) is held from here, so look again
      // whether another one applied it meanwhile.
      if (postgres) conn.Exec("SELECT pg_advisory_xact_lock(hashtext('shop.schema_migrations'))");
      if (conn.Prepare("SELECT 1 FROM schema_migrations WHERE version = ?").Bind(1, m.version).Step()) continue;
      conn.Exec(m.sql);
      conn.Prepare("INSERT INTO schema_migrations(version, name) VALUES (?, ?)").Bind(1, m.version).Bind(2, m.name).Step();
      tx.Commit();
    } catch (const Error& e) {
      throw MigrationError("migration " + std::string(m.name) + " failed: " + e.what());
    }
  }
}

MigrationSet MigrationSet::LoadDirectory(const std::filesystem::path& dir) {
  MigrationSet set;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (!entry.is_regular_file() || !file.ends_with(".sql")) continue;
    int version = 0;
    auto [end, err] = std::from_chars(file.data(), file.data() + file.size(), version);
    if (err != std::errc() || end == file.data() || *end != '_') {
      throw MigrationError("migration file " + entry.path().string() + " is not named NNN_description.sql");
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream sql;
    sql << in.rdbuf();
    set.files_.push_back({version, entry.path().string(), sql.str()});
  }
  if (ec) throw MigrationError("cannot read migrations directory " + dir.string() + ": " + ec.message());
  std::ranges::sort(set.files_, {}, &File::version);
  for (const auto& f : set.files_) set.views_.push_back({f.version, f.name, f.sql});
  return set;
}

}  // namespace shop::sql
