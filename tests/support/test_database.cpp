#include "test_database.h"

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "pg_server.h"
#include "shop/sql/database.h"

namespace shop::testing {

bool OnPostgres() {
  const char* value = std::getenv("SHOP_TEST_DATABASE");
  return value && std::string_view(value) == "postgres";
}

std::string FreshDatabase(const std::filesystem::path& dir, std::string_view file) {
  if (!OnPostgres()) return (dir / file).string();
  // One server for the whole process: starting one takes seconds, a database milliseconds.
  static std::mutex mu;
  static std::unique_ptr<PgServer> server;
  static std::unique_ptr<sql::Database> admin;
  static std::atomic<int> next{1};
  std::lock_guard lock(mu);
  if (!server) {
    server = std::make_unique<PgServer>();
    admin = sql::Database::Open({.path = server->url()}, std::span<const sql::Migration>());
  }
  std::string name(file.substr(0, file.find('.')));
  name += "_" + std::to_string(next++);
  admin->ThisThread().Exec("CREATE DATABASE " + name);
  const std::string& url = server->url();  // postgresql://postgres:PASSWORD@127.0.0.1:PORT/postgres
  return url.substr(0, url.rfind('/') + 1) + name;
}

}  // namespace shop::testing
