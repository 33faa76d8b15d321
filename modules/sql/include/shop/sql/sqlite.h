#pragma once

#include <array>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "shop/sql/database.h"

struct sqlite3;
struct sqlite3_stmt;

namespace shop::sql::sqlite {

class Statement final : public StatementImpl {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() override;
  void BindInt(int index, std::int64_t value) override;
  void BindText(int index, std::string_view value) override;
  void BindNull(int index) override;
  StepResult Advance(bool tolerate_constraint) override;
  std::string_view sql() const override;
  std::int64_t Int(int column) const override;
  std::string Text(int column) const override;
  bool IsNull(int column) const override;
  void Reset() noexcept override;

 private:
  sqlite3_stmt* stmt_;
};

/// One SQLite connection. Not thread-safe: Database hands each thread its own.
class Connection final : public sql::Connection {
 public:
  Connection(const std::string& path, int busy_timeout_ms);
  ~Connection() override;

  Dialect dialect() const override { return Dialect::kSqlite; }
  sql::Statement Prepare(std::string_view sql) override;
  void Exec(std::string_view sql) override;
  std::int64_t LastInsertRowId() override;
  bool InTransaction() const override;
  int Changes() const override;

  /// Calls `on_commit(arg, wal_pages)` after each transaction this connection commits
  /// (sqlite3_wal_hook: after the commit took place and the write lock was released; `wal_pages`:
  /// the WAL's size in pages). This replaces SQLite's own auto-checkpoint: the hook's owner
  /// checkpoints (Database: on its checkpointer thread once the WAL holds 4000 pages).
  void SetCommitHook(void (*on_commit)(void*, int), void* arg);
  /// Copies the WAL into the database file and syncs it, so that the next writer starts the WAL over
  /// from its beginning (https://sqlite.org/wal.html#checkpoint_starvation): PASSIVE passes first,
  /// which wait for no one, then SQLITE_CHECKPOINT_RESTART, which holds the write lock while it copies
  /// what the passes left (writers wait in the busy handler) and waits up to the busy timeout for
  /// readers of the old WAL. Busy is not an error: the next checkpoint tries again. Throws sql::Error
  /// on any other failure.
  void Checkpoint();

 protected:
  void Begin(bool write) override;
  void Commit() override;
  void Rollback() override;

 private:
  struct SqlHash {
    using is_transparent = void;  // look up by string_view without building a std::string
    std::size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
  };
  static int WalHook(void* self, sqlite3* db, const char* name, int pages);
  static int BusyHandler(void* self, int attempt);

  /// A statement found before by where its text was: the call sites pass string literals, so this
  /// finds it without hashing the text (a hit still compares the text, so a reused buffer is safe).
  struct RecentStatement {
    const char* text = nullptr;
    Statement* statement = nullptr;
  };

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<Statement>, SqlHash, std::equal_to<>> statements_;
  std::array<RecentStatement, 128> recent_{};
  void (*on_commit_)(void*, int) = nullptr;
  void* on_commit_arg_ = nullptr;
  std::chrono::steady_clock::duration busy_timeout_{};
  std::chrono::steady_clock::time_point busy_since_{};
};

/// One SQLite file in WAL mode: a connection per thread, checkpoints on a thread of their own.
class Database final : public sql::Database {
 public:
  explicit Database(const Options& options);
  ~Database() override;

  Dialect dialect() const override { return Dialect::kSqlite; }
  Connection& ThisThread() override;
  std::unique_ptr<Listening> Listen(std::string, std::function<void(std::string_view)>,
                                    std::function<void(bool)>) override {
    return nullptr;
  }
  void Announce(sql::Connection&, std::string_view, std::string_view) override {}

 private:
  static void Committed(void* self, int wal_pages);
  /// The checkpointer thread: checkpoints on its own connection when asked, so that the thread
  /// whose commit filled the WAL does not wait for the database file's writes and fdatasync.
  void RunCheckpointer();

  Options options_;
  std::uint64_t id_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_wanted_;
  bool checkpoint_requested_ = false;  // under checkpoint_mu_
  bool stopping_ = false;              // under checkpoint_mu_
  std::thread checkpointer_;           // started by the first request
};

}  // namespace shop::sql::sqlite
