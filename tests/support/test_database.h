#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace shop::testing {

/// True when this run of a test binary is against PostgreSQL: SHOP_TEST_DATABASE=postgres (CTest's
/// `*_on_postgres` runs, label postgres). Otherwise SQLite, the default.
bool OnPostgres();

/// Where a fixture's database lives: `dir`/`file` (SQLite), or, on PostgreSQL, a new empty
/// database on the run's server (one PgServer per test process, started on first use and stopped
/// at exit), as a URI for sql::Database::Open. Throws when the server cannot start.
std::string FreshDatabase(const std::filesystem::path& dir, std::string_view file);

}  // namespace shop::testing
