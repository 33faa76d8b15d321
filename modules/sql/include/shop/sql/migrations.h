#pragma once

#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shop::sql {

class Connection;

/// One schema change: `migrations/<module>/NNN_description.sql` (version NNN), or
/// `migrations/postgres/<module>/NNN_description.sql` for PostgreSQL.
struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

/// A module's migrations in each dialect: the same versions, written for each where they differ
/// (migrations/postgres/README.md). One list serves both where the SQL is portable.
struct Migrations {
  Migrations(std::span<const Migration> sqlite_list, std::span<const Migration> postgres_list)
      : sqlite(sqlite_list), postgres(postgres_list) {}
  Migrations(std::span<const Migration> both) : sqlite(both), postgres(both) {}  // NOLINT: implicit on purpose
  std::span<const Migration> sqlite;
  std::span<const Migration> postgres;
};

/// A migration could not be applied; the message names the file. The database is left as it
/// was before that migration.
class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Applies, in order and each in its own transaction, every migration not yet recorded in the
/// connection's `schema_migrations` table. Applying the same list twice is a no-op. Processes
/// starting together do not race: each migration runs under the write lock (SQLite) or a
/// transaction-level advisory lock (PostgreSQL), and looks again whether another applied it.
void ApplyMigrations(Connection& conn, std::span<const Migration> migrations);

/// Migration files read from a directory (for tools and tests; binaries embed theirs).
class MigrationSet {
 public:
  static MigrationSet LoadDirectory(const std::filesystem::path& dir);
  MigrationSet(MigrationSet&&) = default;
  MigrationSet(const MigrationSet&) = delete;  // views_ point into files_
  MigrationSet& operator=(const MigrationSet&) = delete;
  std::span<const Migration> migrations() const { return views_; }

 private:
  MigrationSet() = default;
  struct File {
    int version;
    std::string name;
    std::string sql;
  };
  std::vector<File> files_;
  std::vector<Migration> views_;
};

}  // namespace shop::sql
