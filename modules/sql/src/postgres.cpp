#include "shop/sql/postgres.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstring>

namespace shop::sql::postgres {
namespace {

std::atomic<std::uint64_t> next_database_id{1};

std::string Trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool IsCommandWrite(const char* status) {
  return std::strncmp(status, "INSERT", 6) == 0 || std::strncmp(status, "UPDATE", 6) == 0 ||
         std::strncmp(status, "DELETE", 6) == 0;
}

PGconn* ConnectOrThrow(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = "cannot connect to " + Redact(url) + ": " + Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    throw Error(0, msg, "08001");
  }
  // Notices ("relation ... already exists, skipping") are not errors; libpq would print them to stderr.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return conn;
}

}  // namespace

std::string Redact(std::string_view url) {
  std::string out(url);
  // postgresql://user:password@host -> postgresql://user@host
  const std::size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const std::size_t start = scheme + 3;
    const std::size_t at = out.find('@', start);
    const std::size_t slash = out.find('/', start);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      const std::size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.erase(colon, at - colon);
    }
  }
  // ?password=... or &password=...
  for (std::size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
    if (p > 0 && out[p - 1] != '?' && out[p - 1] != '&') continue;
    const std::size_t end = out.find('&', p);
    out.replace(p, (end == std::string::npos ? out.size() : end) - p, "password=***");
  }
  return out;
}

std::pair<std::string, int> RewriteParameters(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 8);
  int highest = 0;
  char quote = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote) {
      out += c;
      if (c == quote) quote = 0;  // a doubled quote closes and reopens: the same text
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      out += c;
      continue;
    }
    if (c != '?') {
      out += c;
      continue;
    }
    std::size_t end = i + 1;
    while (end < sql.size() && sql[end] >= '0' && sql[end] <= '9') ++end;
    int number = highest + 1;  // SQLite: a bare ? is one more than the highest so far
    if (end > i + 1) std::from_chars(sql.data() + i + 1, sql.data() + end, number);
    highest = std::max(highest, number);
    out += '$';
    out += std::to_string(number);
    i = end - 1;
  }
  return {std::move(out), highest};
}

// ---- Statement

Statement::Statement(Connection& conn, std::string name, std::string sql, std::string text, int params)
    : conn_(conn), name_(std::move(name)), sql_(std::move(sql)), text_(std::move(text)), epoch_(conn.epoch_),
      values_(static_cast<std::size_t>(params)), is_null_(static_cast<std::size_t>(params), 1) {}

Statement::~Statement() { PQclear(result_); }

std::string& Statement::Slot(int index) {
  if (index < 1 || index > static_cast<int>(values_.size())) {
    throw Error(0, "bind: no parameter " + std::to_string(index) + " in " + sql_, "42P02");
  }
  is_null_[static_cast<std::size_t>(index - 1)] = 0;
  return values_[static_cast<std::size_t>(index - 1)];
}

void Statement::BindInt(int index, std::int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  Slot(index).assign(buf, end);
}

void Statement::BindText(int index, std::string_view value) { Slot(index).assign(value); }

void Statement::BindNull(int index) {
  Slot(index).clear();
  is_null_[static_cast<std::size_t>(index - 1)] = 1;
}

void Statement::Reset() noexcept {
  PQclear(result_);
  result_ = nullptr;
  row_ = -1;
  rows_ = 0;
  std::fill(is_null_.begin(), is_null_.end(), 1);
}

StepResult Statement::Execute(bool tolerate_constraint) {
  std::vector<const char*> values(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i) values[i] = is_null_[i] ? nullptr : values_[i].c_str();
  // A violation aborts a PostgreSQL transaction; under a savepoint only the statement is undone.
  const bool savepoint = tolerate_constraint && conn_.InTransaction();
  if (savepoint) conn_.Prepare("SAVEPOINT try_step").Step();
  PGresult* result = conn_.Attempt([&] {
    if (PGresult* failed = conn_.EnsurePrepared(*this)) return failed;
    return PQexecPrepared(conn_.conn_, name_.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                          nullptr, 0);
  });
  const ExecStatusType status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    // The rows are in `result` already, so the savepoint can go before they are read.
    if (savepoint) conn_.Prepare("RELEASE SAVEPOINT try_step").Step();
    result_ = result;
    rows_ = PQntuples(result);
    conn_.Succeeded(result);
    return StepResult::kDone;
  }
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  if (savepoint && state && std::strncmp(state, "23", 2) == 0) {
    PQclear(result);
    conn_.Prepare("ROLLBACK TO SAVEPOINT try_step").Step();
    conn_.Prepare("RELEASE SAVEPOINT try_step").Step();
    return StepResult::kConstraint;
  }
  if (!savepoint && tolerate_constraint && state && std::strncmp(state, "23", 2) == 0) {
    PQclear(result);  // autocommitted: the statement alone was undone
    return StepResult::kConstraint;
  }
  conn_.Fail(result, sql_);
}

StepResult Statement::Advance(bool tolerate_constraint) {
  if (row_ < 0) {
    if (Execute(tolerate_constraint) == StepResult::kConstraint) return StepResult::kConstraint;
    row_ = 0;
  } else {
    ++row_;
  }
  return row_ < rows_ ? StepResult::kRow : StepResult::kDone;
}

std::int64_t Statement::Int(int column) const {
  if (!result_ || row_ >= rows_ || PQgetisnull(result_, row_, column)) return 0;
  const char* text = PQgetvalue(result_, row_, column);
  const std::size_t length = static_cast<std::size_t>(PQgetlength(result_, row_, column));
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text, text + length, value);
  if (ec != std::errc() || end != text + length) {
    if (length == 1 && (*text == 't' || *text == 'f')) return *text == 't';  // boolean
    throw Error(0, "column " + std::to_string(column) + " is not an integer: " + std::string(text, length) + " (" +
                       sql_ + ")", "22P02");
  }
  return value;
}

std::string Statement::Text(int column) const {
  if (!result_ || row_ >= rows_) return {};
  return std::string(PQgetvalue(result_, row_, column), static_cast<std::size_t>(PQgetlength(result_, row_, column)));
}

bool Statement::IsNull(int column) const {
  return !result_ || row_ >= rows_ || PQgetisnull(result_, row_, column);
}

// ---- Connection

Connection::Connection(Database& db, const std::string& url) : db_(db), conn_(ConnectOrThrow(url)) {}

Connection::~Connection() {
  statements_.clear();
  PQfinish(conn_);
}

bool Connection::Lost() const { return PQstatus(conn_) == CONNECTION_BAD; }

template <class Call>
PGresult* Connection::Attempt(Call call) {
  const bool unit_start = !tx_open_;
  if (unit_start && Lost()) Reconnect();
  PGresult* result = call();
  const ExecStatusType status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || !unit_start || !Lost()) return result;
  // Found lost at the start of a unit of work (e.g. the server restarted since this session's last
  // use): nothing of the unit ran yet, so it runs once more on a new session.
  PQclear(result);
  Reconnect();
  return call();
}

void Connection::Reconnect() {
  PGconn* fresh = ConnectOrThrow(db_.url_);
  PQfinish(conn_);
  conn_ = fresh;
  ++epoch_;
  tx_open_ = false;
}

PGresult* Connection::EnsurePrepared(Statement& statement) {
  if (statement.epoch_ == epoch_) return nullptr;
  PGresult* result = PQprepare(conn_, statement.name_.c_str(), statement.text_.c_str(), 0, nullptr);
  if (PQresultStatus(result) != PGRES_COMMAND_OK) return result;
  PQclear(result);
  statement.epoch_ = epoch_;
  return nullptr;
}

void Connection::Fail(PGresult* result, std::string_view context) {
  // Copied before PQclear: the field points into the result.
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : (PQstatus(conn_) == CONNECTION_BAD ? "08006" : "XX000");
  std::string message = Trimmed(result ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  if (message.empty()) message = Trimmed(PQerrorMessage(conn_));
  PQclear(result);
  // A lost session keeps what was known: a transaction open then stays open until rolled back.
  if (!Lost()) tx_open_ = PQtransactionStatus(conn_) != PQTRANS_IDLE;
  throw Error(0, std::string(context) + ": " + message, std::move(sqlstate));
}

void Connection::Succeeded(PGresult* result) {
  const char* tuples = PQcmdTuples(result);
  changes_ = (tuples && *tuples) ? std::atoi(tuples) : 0;
  tx_open_ = PQtransactionStatus(conn_) != PQTRANS_IDLE;
  // Outside a transaction a write committed by itself: tell the listeners, as after Commit().
  if (PQtransactionStatus(conn_) == PQTRANS_IDLE && IsCommandWrite(PQcmdStatus(result))) db_.Committed();
}

sql::Statement Connection::Prepare(std::string_view sql) {
  auto it = statements_.find(std::string(sql));
  if (it == statements_.end()) {
    auto [text, params] = RewriteParameters(sql);
    std::string name = "s" + std::to_string(statements_.size() + 1);
    PGresult* result = Attempt([&] { return PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr); });
    if (PQresultStatus(result) != PGRES_COMMAND_OK) Fail(result, "prepare " + std::string(sql));
    PQclear(result);
    it = statements_
             .emplace(std::string(sql),
                      std::make_unique<Statement>(*this, name, std::string(sql), std::move(text), params))
             .first;
  }
  return sql::Statement(it->second.get());
}

void Connection::Exec(std::string_view sql) {
  const std::string text(sql);
  PGresult* result = Attempt([&] { return PQexec(conn_, text.c_str()); });
  const ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) Fail(result, sql);
  Succeeded(result);
  PQclear(result);
}

std::int64_t Connection::LastInsertRowId() {
  auto st = Prepare("SELECT lastval()");
  st.Step();
  return st.Int(0);
}

void Connection::Begin(bool write) {
  (void)write;  // READ COMMITTED either way; writers lock the rows they change
  Prepare("BEGIN").Step();
}

void Connection::Commit() {
  if (PQtransactionStatus(conn_) == PQTRANS_INERROR) {
    throw Error(0, "commit: the transaction had failed; it is rolled back", "25P02");
  }
  PGresult* result = PQexec(conn_, "COMMIT");
  tx_open_ = false;  // the unit is over, whatever the outcome (a lost session's is unknown: an error)
  if (PQresultStatus(result) != PGRES_COMMAND_OK) Fail(result, "COMMIT");
  // A transaction the server had aborted "commits" as a ROLLBACK: that is a failure here.
  const bool rolled_back = std::strcmp(PQcmdStatus(result), "ROLLBACK") == 0;
  PQclear(result);
  if (rolled_back) throw Error(0, "commit: the server rolled the transaction back", "40000");
  db_.Committed();
}

void Connection::Rollback() {
  tx_open_ = false;
  // A lost session's transaction ended with it, undone by the server.
  if (Lost() || PQtransactionStatus(conn_) == PQTRANS_IDLE) return;
  PGresult* result = PQexec(conn_, "ROLLBACK");
  if (PQresultStatus(result) != PGRES_COMMAND_OK) Fail(result, "ROLLBACK");
  PQclear(result);
}

bool Connection::InTransaction() const {
  const auto status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

// ---- Database

Database::Database(std::string url)
    : sql::Database(Redact(url)), url_(std::move(url)), id_(next_database_id++) {}

Database::~Database() = default;

Connection& Database::ThisThread() {
  // Keyed by a never-reused id, so an entry left by a closed Database can never match a new one.
  thread_local std::vector<std::pair<std::uint64_t, Connection*>> mine;
  // A lost session is made again in place, by the connection itself at the start of its next unit of
  // work (Connection::Attempt): a caller may keep the reference across units.
  for (auto& [id, conn] : mine) {
    if (id == id_) return *conn;
  }
  auto conn = std::make_unique<Connection>(*this, url_);
  Connection* raw = conn.get();
  {
    std::lock_guard lock(mu_);
    connections_.push_back(std::move(conn));
  }
  mine.emplace_back(id_, raw);
  return *raw;
}

void Database::Announce(sql::Connection& conn, std::string_view channel, std::string_view key) {
  conn.Prepare("SELECT pg_notify(?1, ?2)").Bind(1, channel).Bind(2, key).Step();
}

namespace {

/// One LISTEN session on a thread of its own, made again whenever it is lost.
class Listener final : public Listening {
 public:
  Listener(std::string url, std::string channel, std::function<void(std::string_view)> on_change,
           std::function<void(bool)> on_listening)
      : url_(std::move(url)), channel_(std::move(channel)), on_change_(std::move(on_change)),
        on_listening_(std::move(on_listening)), stop_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (stop_fd_ < 0) throw Error(0, "eventfd failed", "58000");
    thread_ = std::thread([this] { Run(); });
    std::unique_lock lock(mu_);
    settled_.wait(lock, [&] { return first_attempt_done_; });
  }

  ~Listener() override {
    stopping_ = true;
    const std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
    ::close(stop_fd_);
  }

 private:
  void Settle() {
    std::lock_guard lock(mu_);
    first_attempt_done_ = true;
    settled_.notify_all();
  }

  void Run() {
    using namespace std::chrono_literals;
    auto backoff = 50ms;
    while (!stopping_) {
      PGconn* conn = PQconnectdb(url_.c_str());
      bool listening = false;
      if (PQstatus(conn) == CONNECTION_OK) {
        char* quoted = PQescapeIdentifier(conn, channel_.c_str(), channel_.size());
        PGresult* result = PQexec(conn, ("LISTEN " + std::string(quoted ? quoted : "\"\"")).c_str());
        PQfreemem(quoted);
        listening = PQresultStatus(result) == PGRES_COMMAND_OK;
        PQclear(result);
      }
      if (listening) {
        backoff = 50ms;
        on_listening_(true);
        Settle();
        while (!stopping_) {
          pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
          if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
          if (fds[1].revents) break;
          if (!PQconsumeInput(conn)) break;  // the session is gone
          while (PGnotify* n = PQnotifies(conn)) {
            on_change_(n->extra ? n->extra : "");
            PQfreemem(n);
          }
        }
        // Whatever changes from here until a session listens again goes unseen.
        on_listening_(false);
      }
      PQfinish(conn);
      Settle();
      if (stopping_) return;
      pollfd stop = {stop_fd_, POLLIN, 0};
      ::poll(&stop, 1, static_cast<int>(backoff.count()));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }

  const std::string url_;
  const std::string channel_;
  const std::function<void(std::string_view)> on_change_;
  const std::function<void(bool)> on_listening_;
  const int stop_fd_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable settled_;
  bool first_attempt_done_ = false;  // under mu_
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Listening> Database::Listen(std::string channel, std::function<void(std::string_view)> on_change,
                                            std::function<void(bool)> on_listening) {
  return std::make_unique<Listener>(url_, std::move(channel), std::move(on_change), std::move(on_listening));
}

}  // namespace shop::sql::postgres
