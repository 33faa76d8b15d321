#include "shop/sql/sqlite.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "shop/sql/migrations.h"
#include "wal_write_combining.h"

namespace shop::sql::sqlite {
namespace {

[[noreturn]] void Throw(sqlite3* db, int rc, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw Error(rc, msg);
}

void Check(sqlite3_stmt* stmt, int rc, std::string_view context) {
  if (rc != SQLITE_OK) Throw(sqlite3_db_handle(stmt), rc, context);
}

std::atomic<std::uint64_t> next_database_id{1};

}  // namespace

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::Reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::BindInt(int index, std::int64_t value) { Check(stmt_, sqlite3_bind_int64(stmt_, index, value), "bind"); }

void Statement::BindText(int index, std::string_view value) {
  // SQLITE_STATIC: SQLite reads the caller's bytes in place instead of copying them into a malloc'd
  // buffer it frees at the next reset (a malloc, a memcpy and a free per text parameter: 3.5% of an
  // order's instructions, callgrind). Safe by Statement::Bind's lifetime promise; Reset() unbinds.
  Check(stmt_, sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC),
        "bind");
}

void Statement::BindNull(int index) { Check(stmt_, sqlite3_bind_null(stmt_, index), "bind"); }

StepResult Statement::Advance(bool tolerate_constraint) {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return StepResult::kRow;
  if (rc == SQLITE_DONE) return StepResult::kDone;
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    sqlite3_reset(stmt_);
    if (!tolerate_constraint) throw Error(rc, std::string("constraint failed: ") + sqlite3_sql(stmt_), "23000");
    return StepResult::kConstraint;
  }
  Throw(sqlite3_db_handle(stmt_), rc, sqlite3_sql(stmt_));
}

std::string_view Statement::sql() const { return sqlite3_sql(stmt_); }

std::int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool Statement::IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

Connection::Connection(const std::string& path, int busy_timeout_ms) {
  // Each connection belongs to one thread, so SQLite's own per-connection mutex is not needed.
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           WalWriteCombiningVfs());
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open database " + path + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(rc, msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  busy_timeout_ = std::chrono::milliseconds(busy_timeout_ms);
  sqlite3_busy_handler(db_, &Connection::BusyHandler, this);
  // WAL lets readers run beside the one writer; NORMAL sync in WAL mode never corrupts the file and
  // loses nothing on a process crash (only an OS crash or power loss may roll back the last commits).
  // Switching a new file to WAL needs its exclusive lock, and SQLite answers SQLITE_BUSY at once,
  // without the busy handler, when several connections try it together (the handler could deadlock
  // there): processes opening a new database together would fail 1 start in ~50. So this one
  // statement waits here, within the same busy timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  for (auto pause = std::chrono::milliseconds(1);; pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    try {
      Exec("PRAGMA journal_mode=WAL");
      break;
    } catch (const Error& e) {
      if ((e.code() & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() + pause > deadline) throw;
      std::this_thread::sleep_for(pause);
    }
  }
  Exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
}

int Connection::BusyHandler(void* self, int attempt) {
  // SQLite's own handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10, 15, 20, 25 ms...: a writer queued behind
  // a checkpoint's last, short hold of the write lock would oversleep it by milliseconds. Here the sleeps
  // start at 50 us and double up to 1 ms, within the same timeout.
  auto* conn = static_cast<Connection*>(self);
  const auto now = std::chrono::steady_clock::now();
  if (attempt == 0) conn->busy_since_ = now;
  if (now - conn->busy_since_ >= conn->busy_timeout_) return 0;
  std::this_thread::sleep_for(std::min(std::chrono::microseconds(50) * (1 << std::min(attempt, 5)),
                                       std::chrono::microseconds(1000)));
  return 1;
}

void Connection::SetCommitHook(void (*on_commit)(void*, int), void* arg) {
  on_commit_ = on_commit;
  on_commit_arg_ = arg;
  sqlite3_wal_hook(db_, &Connection::WalHook, this);
}

int Connection::WalHook(void* self, sqlite3* db, const char* name, int pages) {
  auto* conn = static_cast<Connection*>(self);
  (void)db;
  (void)name;
  if (conn->on_commit_) conn->on_commit_(conn->on_commit_arg_, pages);
  return SQLITE_OK;
}

void Connection::Checkpoint() {
  // Copy without blocking anyone, again while a pass found much more to copy (writers kept adding), so
  // that little is left for the RESTART, which holds the write lock while it copies the rest and
  // syncs, then waits for readers of the old WAL to finish (the busy handler). After it, the next
  // writer starts the WAL over from its beginning. PASSIVE alone never gets there under steady writes:
  // a writer restarts the WAL only if all of it was copied when its transaction began, so the file grew
  // without bound (300 MB in 5 s of orders) and every commit asked for another checkpoint.
  int wal_frames = 0;
  int copied = 0;
  for (int pass = 0; pass < 4; ++pass) {
    const int before = copied;
    const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) Throw(db_, rc, "checkpoint");
    if (copied - before <= 64) break;
  }
  const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) Throw(db_, rc, "checkpoint");
}

Connection::~Connection() {
  statements_.clear();  // finalized before the connection closes
  sqlite3_close_v2(db_);
}

sql::Statement Connection::Prepare(std::string_view sql) {
  // Hashing the text for the map was 2% of an order's instructions (27 statements per order, callgrind).
  RecentStatement& recent = recent_[(reinterpret_cast<std::uintptr_t>(sql.data()) >> 3) % recent_.size()];
  if (recent.text == sql.data() && recent.statement->sql() == sql) return sql::Statement(recent.statement);
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    recent = {sql.data(), it->second.get()};
    return sql::Statement(it->second.get());
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                              nullptr);
  if (rc != SQLITE_OK) Throw(db_, rc, "prepare " + std::string(sql));
  auto [inserted, _] = statements_.emplace(std::string(sql), std::make_unique<Statement>(stmt));
  recent = {sql.data(), inserted->second.get()};
  return sql::Statement(inserted->second.get());
}

void Connection::Exec(std::string_view sql) {
  std::string owned(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw Error(rc, msg);
  }
}

std::int64_t Connection::LastInsertRowId() { return sqlite3_last_insert_rowid(db_); }
int Connection::Changes() const { return sqlite3_changes(db_); }

// Prepared once per connection, like every statement: sqlite3_exec would compile them per call.
void Connection::Begin(bool write) { Prepare(write ? "BEGIN IMMEDIATE" : "BEGIN").Step(); }
// The commit listeners run from the WAL hook (Database::Committed), for autocommitted statements too.
void Connection::Commit() { Prepare("COMMIT").Step(); }
void Connection::Rollback() { Prepare("ROLLBACK").Step(); }
bool Connection::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

Database::Database(const Options& options)
    : sql::Database(options.path), options_(options), id_(next_database_id++) {
  // SQLite's memory statistics take a global mutex on every allocation; nothing here reads them.
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
}

Database::~Database() {
  {
    std::lock_guard lock(checkpoint_mu_);
    stopping_ = true;
  }
  checkpoint_wanted_.notify_one();
  if (checkpointer_.joinable()) checkpointer_.join();
}

void Database::RunCheckpointer() {
  Connection conn(options_.path, options_.busy_timeout_ms);
  std::unique_lock lock(checkpoint_mu_);
  while (true) {
    checkpoint_wanted_.wait(lock, [this] { return checkpoint_requested_ || stopping_; });
    if (stopping_) return;
    checkpoint_requested_ = false;
    lock.unlock();
    try {
      conn.Checkpoint();
    } catch (const Error&) {
      // Left to the next request: the WAL only grows meanwhile, nothing is lost.
    }
    lock.lock();
  }
}

Connection& Database::ThisThread() {
  // Keyed by a never-reused id, so an entry left by a closed Database can never match a new one.
  thread_local std::vector<std::pair<std::uint64_t, Connection*>> mine;
  for (auto& [id, conn] : mine) {
    if (id == id_) return *conn;
  }
  auto conn = std::make_unique<Connection>(options_.path, options_.busy_timeout_ms);
  conn->SetCommitHook(&Database::Committed, this);
  Connection* raw = conn.get();
  {
    std::lock_guard lock(mu_);
    connections_.push_back(std::move(conn));
  }
  mine.emplace_back(id_, raw);
  return *raw;
}

void Database::Committed(void* self, int wal_pages) {
  auto* db = static_cast<Database*>(self);
  // Checkpointing every options_.checkpoint_pages (4000 by default) rather than SQLite's 1000: a
  // checkpoint writes each page once however often it changed in the WAL, so fewer, larger checkpoints
  // write (and fdatasync) less per commit; and on the checkpointer thread, not the committing one, which
  // would wait for those writes (bench/README.md "Orders: where the time goes").
  if (wal_pages >= db->options_.checkpoint_pages) {
    std::lock_guard lock(db->checkpoint_mu_);
    if (!db->stopping_) {
      db->checkpoint_requested_ = true;
      if (!db->checkpointer_.joinable()) db->checkpointer_ = std::thread([db] { db->RunCheckpointer(); });
      db->checkpoint_wanted_.notify_one();
    }
  }
  db->NotifyCommitted();
}

}  // namespace shop::sql::sqlite
