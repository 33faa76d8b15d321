#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <shared_mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace shop::sqlite {

struct Migration;

/// A failure of the database itself (I/O, corruption, misuse): nothing a client can cause or fix.
class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

/// Outcome of stepping a statement that may hit a UNIQUE/CHECK/FOREIGN KEY constraint.
enum class StepResult { kRow, kDone, kConstraint };

/// A cached prepared statement borrowed from its connection; reset and unbound when it goes out of scope.
/// Columns and parameters are numbered as in SQLite: parameters from 1, columns from 0.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  ~Statement();

  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, std::nullopt_t);
  Statement& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Statement& Bind(int index, int value) { return Bind(index, static_cast<std::int64_t>(value)); }

  /// Advances to the next row: true when a row is available; throws sqlite::Error on any failure.
  bool Step();
  /// Like Step, but reports a constraint violation as a value instead of throwing.
  StepResult TryStep();

  std::int64_t Int(int column) const;
  std::string Text(int column) const;
  bool IsNull(int column) const;

 private:
  sqlite3_stmt* stmt_;
};

/// One SQLite connection. Not thread-safe: Database hands each thread its own.
class Connection {
 public:
  Connection(const std::string& path, int busy_timeout_ms);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  /// The statement for `sql`, prepared on first use and reused after.
  Statement Prepare(std::string_view sql);
  /// Runs one or more statements that return no rows.
  void Exec(std::string_view sql);
  std::int64_t LastInsertRowId() const;
  int Changes() const;
  /// Calls `on_commit(arg, wal_pages)` after each transaction this connection commits
  /// (sqlite3_wal_hook: after the commit took place and the write lock was released; `wal_pages`:
  /// the WAL's size in pages). This replaces SQLite's own auto-checkpoint: the hook's owner
  /// checkpoints (Database: on its checkpointer thread once the WAL holds 4000 pages).
  void SetCommitHook(void (*on_commit)(void*, int), void* arg);
  /// Copies what it can of the WAL into the database file without waiting for readers or writers
  /// (SQLITE_CHECKPOINT_PASSIVE), and syncs it. Throws sqlite::Error on failure.
  void Checkpoint();
  /// True while a GroupTransaction is open on this connection.
  bool in_group() const { return in_group_; }

 private:
  friend class GroupTransaction;
  friend class Transaction;
  struct SqlHash {
    using is_transparent = void;  // look up by string_view without building a std::string
    std::size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
  };
  static int WalHook(void* self, sqlite3* db, const char* name, int pages);

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> statements_;
  void (*on_commit_)(void*, int) = nullptr;
  void* on_commit_arg_ = nullptr;
  bool in_group_ = false;
};

/// A transaction on one connection: rolled back unless Commit() is called.
/// Write transactions use BEGIN IMMEDIATE so that concurrent writers queue on busy_timeout
/// instead of failing at the first write. Inside a GroupTransaction it is a SAVEPOINT of the
/// group's transaction instead: Commit() releases it into the group, and leaving it uncommitted
/// undoes its changes alone (ROLLBACK TO), so its code reads the same either way.
class Transaction {
 public:
  enum class Kind { kRead, kWrite };
  Transaction(Connection& conn, Kind kind);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void Commit();

 private:
  Connection& conn_;
  bool open_ = true;
  bool savepoint_ = false;
};

/// Group commit: the transactions begun on `conn` while the group is open become savepoints of
/// one write transaction (BEGIN IMMEDIATE), so that many units of work pay for one commit: its
/// WAL frames (a page changed by several units is written once), its locks and its commit hooks.
/// Each unit still commits or rolls back on its own (see Transaction); none is durable, or seen
/// by other connections, before the group's Commit(). A group not committed rolls everything
/// back. Not nestable. Throws sqlite::Error when the database fails (then no unit took effect).
/// The technique: Gawlick and Kinkade, "Varieties of concurrency control in IMS/VS Fast Path"
/// (1985); what PostgreSQL's commit_delay and MySQL's binlog group commit do across sessions.
class GroupTransaction {
 public:
  explicit GroupTransaction(Connection& conn);
  GroupTransaction(const GroupTransaction&) = delete;
  GroupTransaction& operator=(const GroupTransaction&) = delete;
  ~GroupTransaction();
  /// Commits every unit released into the group, at once.
  void Commit();

 private:
  Connection& conn_;
  bool open_ = true;
};

/// One module's database file. Each thread that touches it gets its own connection, so
/// readers never wait for each other (WAL) and writers are serialised by SQLite alone.
class Database {
 public:
  struct Options {
    std::string path;
    int busy_timeout_ms = 5000;
  };

  /// Opens (creating if needed) the file, switches it to WAL and applies pending migrations.
  /// Throws MigrationError or sqlite::Error when the database cannot be brought up to date.
  static std::unique_ptr<Database> Open(const Options& options, std::span<const Migration> migrations);

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  /// The calling thread's connection to this database.
  Connection& ThisThread();
  /// True when a trivial query succeeds on the calling thread's connection.
  bool Ping();

  /// Calls `listener` on the committing thread after every transaction committed through this
  /// Database, on any thread (e.g. to wake an outbox relay at once instead of polling). Keep it
  /// short: it runs inside the committing call. Returns an id for RemoveCommitListener.
  std::uint64_t AddCommitListener(std::function<void()> listener);
  /// Stops calling the listener; after it returns the listener is no longer running or called.
  void RemoveCommitListener(std::uint64_t id);
  const std::string& path() const { return options_.path; }

 private:
  explicit Database(Options options);

  static void Committed(void* self, int wal_pages);
  /// The checkpointer thread: checkpoints on its own connection when asked, so that the thread
  /// whose commit filled the WAL does not wait for the database file's writes and fdatasync.
  void RunCheckpointer();

  Options options_;
  std::uint64_t id_;
  std::shared_mutex listeners_mu_;  // shared while calling, exclusive while changing
  std::vector<std::pair<std::uint64_t, std::function<void()>>> listeners_;
  std::uint64_t next_listener_ = 1;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_wanted_;
  bool checkpoint_requested_ = false;  // under checkpoint_mu_
  bool stopping_ = false;              // under checkpoint_mu_
  std::thread checkpointer_;           // started by the first request
};

}  // namespace shop::sqlite
