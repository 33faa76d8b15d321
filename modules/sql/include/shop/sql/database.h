#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// The modules' stores speak to their database through these types, whichever server is behind
/// it: SQLite (the default: a file, no server) or PostgreSQL 15 (libpq; for replicas on several
/// machines). A store writes its SQL once, in the subset both dialects share, with `?` or `?N`
/// parameters as SQLite numbers them; where the dialects differ it asks `dialect()`.
namespace shop::sql {

struct Migration;
struct Migrations;

/// The SQL dialect behind a connection.
enum class Dialect { kSqlite, kPostgres };

/// A failure of the database itself (I/O, corruption, misuse, a lost server connection, a
/// deadlock): nothing a client can cause or fix. `code` is SQLite's result code; on PostgreSQL it
/// is 0 and `sqlstate` holds the SQLSTATE (e.g. "40P01").
class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& what, std::string sqlstate = {})
      : std::runtime_error(what), code_(code), sqlstate_(std::move(sqlstate)) {}
  int code() const { return code_; }
  const std::string& sqlstate() const { return sqlstate_; }
  /// True for a transaction the server aborted to break a deadlock or a serialization conflict
  /// (PostgreSQL SQLSTATE 40001, 40P01; SQLite SQLITE_BUSY): running it again may succeed.
  bool retryable() const;

 private:
  int code_;
  std::string sqlstate_;
};

/// Outcome of stepping a statement that may hit a UNIQUE/CHECK/FOREIGN KEY constraint.
enum class StepResult { kRow, kDone, kConstraint };

/// What a backend implements for one prepared statement (see Statement).
class StatementImpl {
 public:
  virtual ~StatementImpl() = default;
  virtual void BindInt(int index, std::int64_t value) = 0;
  /// `value` stays alive until Reset() or the parameter is bound again (Statement::Bind's promise).
  virtual void BindText(int index, std::string_view value) = 0;
  virtual void BindNull(int index) = 0;
  /// Executes (on the first call) or advances. A constraint violation is kConstraint when
  /// `tolerate_constraint` (then the statement changed nothing and the transaction goes on), else
  /// an Error like any failure.
  virtual StepResult Advance(bool tolerate_constraint) = 0;
  virtual std::string_view sql() const = 0;
  virtual std::int64_t Int(int column) const = 0;
  virtual std::string Text(int column) const = 0;
  virtual bool IsNull(int column) const = 0;
  /// Back to unexecuted with no parameters bound; never throws.
  virtual void Reset() noexcept = 0;
};

/// A cached prepared statement borrowed from its connection; reset and unbound when it goes out of scope.
/// Columns and parameters are numbered as in SQLite: parameters from 1, columns from 0. Integers
/// are 64-bit; text is UTF-8.
class Statement {
 public:
  explicit Statement(StatementImpl* impl) : impl_(impl) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)) {}
  ~Statement() {
    if (impl_) impl_->Reset();
  }

  Statement& Bind(int index, std::int64_t value) {
    impl_->BindInt(index, value);
    return *this;
  }
  /// Binds text by reference, without a copy (SQLite's SQLITE_STATIC): `value` must stay alive and
  /// unchanged until the statement goes out of scope or the parameter is bound again. A temporary
  /// std::string does not compile (the overload below); keep it in a named variable first.
  Statement& Bind(int index, std::string_view value) {
    impl_->BindText(index, value);
    return *this;
  }
  Statement& Bind(int index, std::string&& value) = delete;
  Statement& Bind(int index, std::nullopt_t) {
    impl_->BindNull(index);
    return *this;
  }
  Statement& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Statement& Bind(int index, int value) { return Bind(index, static_cast<std::int64_t>(value)); }

  /// Advances to the next row: true when a row is available; throws sql::Error on any failure,
  /// a constraint violation included.
  bool Step();
  /// Like Step, but reports a constraint violation as a value instead of throwing. The violating
  /// statement changes nothing; the transaction around it goes on (on PostgreSQL the statement runs
  /// under a savepoint for this, so use it only where a violation is expected).
  StepResult TryStep() { return impl_->Advance(true); }

  std::int64_t Int(int column) const { return impl_->Int(column); }
  std::string Text(int column) const { return impl_->Text(column); }
  bool IsNull(int column) const { return impl_->IsNull(column); }

 private:
  StatementImpl* impl_;
};

/// One connection, used by one thread at a time (Database hands each thread its own).
class Connection {
 public:
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  virtual Dialect dialect() const = 0;
  /// The statement for `sql`, prepared on first use and reused after. `?` and `?N` parameters;
  /// on PostgreSQL they are rewritten to `$N` once, when prepared.
  virtual Statement Prepare(std::string_view sql) = 0;
  /// Runs one or more statements that take no parameters and return no rows.
  virtual void Exec(std::string_view sql) = 0;
  /// The id of the row the last INSERT on this connection made with a generated id (SQLite's
  /// rowid; PostgreSQL's lastval(), i.e. the last identity value this session drew).
  virtual std::int64_t LastInsertRowId() = 0;
  /// Rows the last INSERT, UPDATE or DELETE on this connection changed.
  virtual int Changes() const = 0;
  /// True while a GroupTransaction is open on this connection.
  bool in_group() const { return in_group_; }
  /// True inside a transaction; false also when the server ended it by itself (SQLite rolls back on
  /// some errors).
  virtual bool InTransaction() const = 0;
  /// Inside a transaction: runs `work` on this connection just before the outermost transaction
  /// commits, after every other statement of it (in the order deferred), or never if it rolls back;
  /// a unit (savepoint) undone drops what it deferred. If `work` throws, nothing commits. Outside a
  /// transaction: runs it at once. For writes
  /// that must come last, e.g. the outbox on PostgreSQL (events.cpp: the lock it takes is then the
  /// last a transaction takes, so it cannot close a cycle of waits).
  void DeferToCommit(std::function<void(Connection&)> work) {
    if (!InTransaction()) return work(*this);
    deferred_.push_back(std::move(work));
  }

 protected:
  Connection() = default;
  friend class Transaction;
  friend class GroupTransaction;
  /// Starts a transaction: `write` ones take the write lock at once where the dialect has one
  /// (SQLite BEGIN IMMEDIATE), so writers queue instead of failing at their first write.
  virtual void Begin(bool write) = 0;
  /// Commits the open transaction; then the Database's commit listeners run.
  virtual void Commit() = 0;
  virtual void Rollback() = 0;

  /// Runs and clears what was deferred to commit.
  void RunDeferred();

  bool in_group_ = false;
  std::vector<std::function<void(Connection&)>> deferred_;
};

/// A transaction on one connection: rolled back unless Commit() is called.
/// Write transactions take the write lock at once on SQLite (BEGIN IMMEDIATE), so concurrent
/// writers queue on busy_timeout instead of failing at the first write; on PostgreSQL they run at
/// READ COMMITTED and lock the rows they change (see the stores for where that matters). Inside a
/// GroupTransaction it is a SAVEPOINT of the group's transaction instead: Commit() releases it into
/// the group, and leaving it uncommitted undoes its changes alone (ROLLBACK TO), so its code reads
/// the same either way.
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
  std::size_t deferred_mark_ = 0;  // a unit's: what was deferred before it began
};

/// Group commit: the transactions begun on `conn` while the group is open become savepoints of
/// one write transaction, so that many units of work pay for one commit: its log writes (a page
/// changed by several units is written once), its locks and its commit hooks. Each unit still
/// commits or rolls back on its own (see Transaction); none is durable, or seen by other
/// connections, before the group's Commit(). A group not committed rolls everything back. Not
/// nestable. Throws sql::Error when the database fails (then no unit took effect).
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

/// A subscription made by Database::Listen; ends (its thread stopped) when destroyed.
class Listening {
 public:
  virtual ~Listening() = default;
};

/// One module's database. Each thread that touches it gets its own connection, so readers never
/// wait for each other and writers are serialised by the database alone.
class Database {
 public:
  struct Options {
    /// Where the database is: a SQLite file path (created if needed), or a PostgreSQL connection
    /// URI, `postgresql://` or `postgres://` (libpq's syntax, e.g.
    /// `postgresql://products@db:5432/products?passfile=/run/secrets/pgpass`).
    std::string path;
    int busy_timeout_ms = 5000;  ///< SQLite: how long a writer waits for the write lock
    /// SQLite: the WAL's size in pages (4 KB) at which a commit asks the checkpointer thread to copy it
    /// into the database file and start it over.
    int checkpoint_pages = 4000;
  };

  /// Opens the database (a SQLite file is created and switched to WAL) and applies the pending
  /// migrations of its dialect. Throws MigrationError or sql::Error when the database cannot be
  /// reached or brought up to date; the message names the database (never its password).
  static std::unique_ptr<Database> Open(const Options& options, const Migrations& migrations);
  /// The same, with one list of migrations written in SQL both dialects take.
  static std::unique_ptr<Database> Open(const Options& options, std::span<const Migration> migrations);

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  virtual ~Database() = default;

  virtual Dialect dialect() const = 0;
  /// The calling thread's connection to this database (made on first use: on PostgreSQL a new
  /// server session, which is why every thread keeps its own). Throws sql::Error when it cannot connect.
  virtual Connection& ThisThread() = 0;
  /// True when a trivial query succeeds on the calling thread's connection (on PostgreSQL a
  /// broken connection is made again first).
  bool Ping();
  /// The file path, or the URI without its password: for logs and messages.
  const std::string& path() const { return name_; }

  /// Calls `listener` on the committing thread after every transaction committed through this
  /// Database, on any thread (e.g. to wake an outbox relay at once instead of polling). Keep it
  /// short: it runs inside the committing call. Returns an id for RemoveCommitListener.
  std::uint64_t AddCommitListener(std::function<void()> listener);
  /// Stops calling the listener; after it returns the listener is no longer running or called.
  void RemoveCommitListener(std::uint64_t id);

  /// While the returned handle lives: calls `on_change(key)` for every Announce(channel, key)
  /// committed on this database by any process, from a thread of its own, `on_listening(true)`
  /// once a session listens and `on_listening(false)` when announcements may be missed from then on
  /// (the session dropped; it is made again, with backoff). Returns after the first attempt to
  /// listen, so a caller that waits for `on_listening(true)` waits for a server that is there.
  /// For caches across instances: PostgreSQL LISTEN/NOTIFY; the lag is the time from a commit to
  /// its notification. SQLite: not supported, returns nullptr and calls nothing (processes on one
  /// file share ChangeCounters instead).
  virtual std::unique_ptr<Listening> Listen(std::string channel, std::function<void(std::string_view key)> on_change,
                                            std::function<void(bool listening)> on_listening) = 0;
  /// Inside a write transaction on `conn`: tells Listen()ers of `channel` that `key` changed, once
  /// the transaction commits (PostgreSQL pg_notify; a no-op on SQLite).
  virtual void Announce(Connection& conn, std::string_view channel, std::string_view key) = 0;

 protected:
  explicit Database(std::string name) : name_(std::move(name)) {}
  /// Runs the commit listeners; backends call it after each commit.
  void NotifyCommitted();

 private:
  std::string name_;
  std::shared_mutex listeners_mu_;  // shared while calling, exclusive while changing
  std::vector<std::pair<std::uint64_t, std::function<void()>>> listeners_;
  std::uint64_t next_listener_ = 1;
};

/// True when `path` names a PostgreSQL database (a `postgresql://` or `postgres://` URI).
bool IsPostgresUrl(std::string_view path);

}  // namespace shop::sql
