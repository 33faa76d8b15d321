#include "store.h"

#include "shop/users/events.h"

namespace shop::users {
namespace {

Role ParseRole(std::string_view text) { return text == RoleName(Role::kAdmin) ? Role::kAdmin : Role::kCustomer; }

}  // namespace

std::expected<User, Error> Store::Insert(const UserRecord& record) {
  sql::Connection& conn = db_.ThisThread();
  sql::Transaction tx(conn, sql::Transaction::Kind::kWrite);
  auto stmt = conn.Prepare("INSERT INTO users(email, name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)");
  stmt.Bind(1, record.email)
      .Bind(2, record.name)
      .Bind(3, RoleName(record.role))
      .Bind(4, record.password_hash)
      .Bind(5, record.created_at);
  // Every other constraint (NOT NULL, the role CHECK) holds by construction, so a violation here
  // is the UNIQUE email: another registration got there first.
  if (stmt.TryStep() == sql::StepResult::kConstraint) {
    return Fail(Errc::kEmailTaken, "email: is already registered");
  }
  User user{conn.LastInsertRowId(), record.email, record.name, record.role, record.created_at};
  events::AddToOutbox(conn, UserRegisteredEvent(user));
  tx.Commit();
  return user;
}

std::optional<User> Store::FindById(std::int64_t id) {
  auto stmt = db_.ThisThread().Prepare("SELECT id, email, name, role, created_at FROM users WHERE id = ?");
  stmt.Bind(1, id);
  if (!stmt.Step()) return std::nullopt;
  return User{stmt.Int(0), stmt.Text(1), stmt.Text(2), ParseRole(stmt.Text(3)), stmt.Text(4)};
}

std::optional<Credentials> Store::FindCredentials(std::string_view email) {
  auto stmt = db_.ThisThread().Prepare("SELECT id, role, password_hash FROM users WHERE email = ?");
  stmt.Bind(1, email);
  if (!stmt.Step()) return std::nullopt;
  return Credentials{Principal{stmt.Int(0), ParseRole(stmt.Text(1))}, stmt.Text(2)};
}

}  // namespace shop::users
