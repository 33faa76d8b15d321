#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "shop/sql/database.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

/// The PostgreSQL backend (libpq, the server's own C client): for a service's replicas on several
/// machines sharing one database. Statements are prepared once per session (the extended query
/// protocol), parameters and results travel as text.
namespace shop::sql::postgres {

class Connection;
class Database;

class Statement final : public StatementImpl {
 public:
  Statement(Connection& conn, std::string name, std::string sql, std::string text, int params);
  ~Statement() override;
  void BindInt(int index, std::int64_t value) override;
  void BindText(int index, std::string_view value) override;
  void BindNull(int index) override;
  StepResult Advance(bool tolerate_constraint) override;
  std::string_view sql() const override { return sql_; }
  std::int64_t Int(int column) const override;
  std::string Text(int column) const override;
  bool IsNull(int column) const override;
  void Reset() noexcept override;

 private:
  friend class Connection;  // prepares it again on a new session
  /// Runs the statement (PQexecPrepared); a constraint violation is reported, not thrown, when
  /// `tolerate_constraint` (inside a transaction under a savepoint, so the transaction goes on).
  StepResult Execute(bool tolerate_constraint);
  std::string& Slot(int index);

  Connection& conn_;
  std::string name_;
  std::string sql_;          // as given, `?` parameters: for messages
  std::string text_;         // as sent to the server, `$N` parameters
  std::uint64_t epoch_ = 0;  // the session (Connection::epoch_) it is prepared on
  std::vector<std::string> values_;
  std::vector<char> is_null_;
  PGresult* result_ = nullptr;
  int row_ = -1;
  int rows_ = 0;
};

/// One server session. Not thread-safe: Database hands each thread its own.
class Connection final : public sql::Connection {
 public:
  Connection(Database& db, const std::string& url);
  ~Connection() override;

  Dialect dialect() const override { return Dialect::kPostgres; }
  sql::Statement Prepare(std::string_view sql) override;
  void Exec(std::string_view sql) override;
  std::int64_t LastInsertRowId() override;
  bool InTransaction() const override;
  int Changes() const override { return changes_; }

  /// True when libpq knows the session is gone (the server closed it, a restart, the network).
  bool Lost() const;

 protected:
  void Begin(bool write) override;
  void Commit() override;
  void Rollback() override;

 private:
  friend class Statement;
  /// Throws sql::Error for a failed `result` (consumed), naming `context`.
  [[noreturn]] void Fail(PGresult* result, std::string_view context);
  /// After a statement succeeded: counts its changed rows; outside a transaction, a write has committed.
  void Succeeded(PGresult* result);
  /// Runs `call` (one libpq round trip, returning its result). At the start of a unit of work (no
  /// transaction open on this session), a session found lost, before the call or by its failure, is
  /// made again and the call made once more: a server restart costs no request. Never inside a
  /// transaction: what it did is gone with the session, so the caller's unit fails.
  template <class Call>
  PGresult* Attempt(Call call);
  /// A new session in place of the lost one; every statement is prepared again on first use.
  /// Throws sql::Error (08001) when the server cannot be reached.
  void Reconnect();
  /// Prepares `statement` on this session if it was not yet: nullptr, or the failed result.
  PGresult* EnsurePrepared(Statement& statement);

  Database& db_;
  PGconn* conn_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<Statement>, std::hash<std::string>, std::equal_to<>> statements_;
  int changes_ = 0;
  std::uint64_t epoch_ = 1;  // which session conn_ is: one more after each Reconnect
  bool tx_open_ = false;     // a transaction is open as far as this side knows (also once the session is lost)
};

class Database final : public sql::Database {
 public:
  /// Connects once to check the URL; throws sql::Error naming the server (not the password).
  explicit Database(std::string url);
  ~Database() override;

  Dialect dialect() const override { return Dialect::kPostgres; }
  Connection& ThisThread() override;
  /// Runs the commit listeners (a connection of this database committed).
  void Committed() { NotifyCommitted(); }
  std::unique_ptr<Listening> Listen(std::string channel, std::function<void(std::string_view)> on_change,
                                    std::function<void(bool)> on_listening) override;
  void Announce(sql::Connection& conn, std::string_view channel, std::string_view key) override;

 private:
  friend class Connection;
  std::string url_;
  std::uint64_t id_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> connections_;
};

/// `url` without a password (`postgresql://user:secret@host/db` -> `postgresql://user@host/db`).
std::string Redact(std::string_view url);
/// `sql` with SQLite's `?` and `?N` parameters as PostgreSQL's `$N` (quoted text left alone), and
/// the number of parameters.
std::pair<std::string, int> RewriteParameters(std::string_view sql);

}  // namespace shop::sql::postgres
