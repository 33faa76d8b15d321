#include "shop/sql/database.h"

#include <mutex>

#include "shop/sql/migrations.h"
#include "shop/sql/postgres.h"
#include "shop/sql/sqlite.h"

namespace shop::sql {
namespace {
constexpr int kSqliteBusy = 5;  // SQLITE_BUSY, without including sqlite3.h here
}  // namespace

bool Error::retryable() const {
  return sqlstate_ == "40001" || sqlstate_ == "40P01" || (code_ & 0xff) == kSqliteBusy;
}

bool IsPostgresUrl(std::string_view path) {
  return path.starts_with("postgresql://") || path.starts_with("postgres://");
}

bool Statement::Step() { return impl_->Advance(false) == StepResult::kRow; }

void Connection::RunDeferred() {
  // Moved out first: work deferring more work would otherwise grow the vector being walked.
  std::vector<std::function<void(Connection&)>> work = std::move(deferred_);
  deferred_.clear();
  for (auto& w : work) w(*this);
}

Transaction::Transaction(Connection& conn, Kind kind)
    : conn_(conn), savepoint_(conn.in_group()), deferred_mark_(conn.deferred_.size()) {
  if (!savepoint_) conn_.deferred_.clear();
  if (savepoint_) {
    // SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR...): a
    // savepoint then would open a transaction of its own and commit alone, outside the group.
    if (!conn_.InTransaction()) throw Error(4, "the group transaction was rolled back", "25P01");
    conn_.Prepare("SAVEPOINT unit").Step();
  } else {
    conn_.Begin(kind == Kind::kWrite);
  }
}

Transaction::~Transaction() {
  if (!open_) return;
  if (savepoint_) {
    if (conn_.deferred_.size() > deferred_mark_) conn_.deferred_.resize(deferred_mark_);
  } else {
    conn_.deferred_.clear();
  }
  try {
    if (savepoint_) {
      conn_.Prepare("ROLLBACK TO unit").Step();
      conn_.Prepare("RELEASE unit").Step();
    } else {
      conn_.Rollback();
    }
  } catch (const Error&) {
    // The transaction is already gone (SQLite rolls back by itself on some errors; a PostgreSQL
    // session may be lost); a group's Commit() then fails, so nothing of it is taken for done.
  }
}

void Transaction::Commit() {
  if (savepoint_) {
    conn_.Prepare("RELEASE unit").Step();  // what it deferred goes with the group
  } else {
    conn_.RunDeferred();
    conn_.Commit();
  }
  open_ = false;
}

GroupTransaction::GroupTransaction(Connection& conn) : conn_(conn) {
  if (conn_.in_group_) throw std::logic_error("a group transaction is already open on this connection");
  conn_.deferred_.clear();
  conn_.Begin(true);
  conn_.in_group_ = true;
}

GroupTransaction::~GroupTransaction() {
  conn_.in_group_ = false;
  if (!open_) return;
  conn_.deferred_.clear();
  try {
    conn_.Rollback();
  } catch (const Error&) {
    // Already rolled back by the database itself.
  }
}

void GroupTransaction::Commit() {
  conn_.in_group_ = false;
  open_ = false;
  try {
    conn_.RunDeferred();
    conn_.Commit();
  } catch (...) {
    open_ = true;  // the destructor rolls back what is left
    throw;
  }
}

std::unique_ptr<Database> Database::Open(const Options& options, const Migrations& migrations) {
  std::unique_ptr<Database> db;
  if (IsPostgresUrl(options.path)) {
    db = std::make_unique<postgres::Database>(options.path);
  } else {
    db = std::make_unique<sqlite::Database>(options);
  }
  ApplyMigrations(db->ThisThread(), db->dialect() == Dialect::kPostgres ? migrations.postgres : migrations.sqlite);
  return db;
}

std::unique_ptr<Database> Database::Open(const Options& options, std::span<const Migration> migrations) {
  return Open(options, Migrations(migrations));
}

bool Database::Ping() {
  try {
    auto stmt = ThisThread().Prepare("SELECT 1");
    return stmt.Step();
  } catch (const Error&) {
    return false;
  }
}

void Database::NotifyCommitted() {
  std::shared_lock lock(listeners_mu_);
  for (const auto& [id, listener] : listeners_) listener();
}

std::uint64_t Database::AddCommitListener(std::function<void()> listener) {
  std::unique_lock lock(listeners_mu_);
  const std::uint64_t id = next_listener_++;
  listeners_.emplace_back(id, std::move(listener));
  return id;
}

void Database::RemoveCommitListener(std::uint64_t id) {
  std::unique_lock lock(listeners_mu_);
  std::erase_if(listeners_, [id](const auto& entry) { return entry.first == id; });
}

}  // namespace shop::sql
