#include "store.h"

#include "shop/core/time.h"
#include "shop/orders/events.h"

namespace shop::orders {
namespace {

using sql::Connection;
using sql::Statement;
using sql::Transaction;

KeyClaim Claim(KeyClaim::Kind kind) {
  KeyClaim claim;
  claim.kind = kind;
  return claim;
}

Status ParseStatus(std::string_view text) { return text == "cancelled" ? Status::kCancelled : Status::kConfirmed; }

/// Columns: id, user_id, status, total_cents, created_at (then anything else).
Order ReadOrderHead(const Statement& st) {
  Order order;
  order.id = st.Int(0);
  order.user_id = st.Int(1);
  order.status = ParseStatus(st.Text(2));
  order.total_cents = st.Int(3);
  order.created_at = st.Text(4);
  return order;
}

std::optional<StoredOrder> LoadOrder(Connection& conn, std::int64_t id) {
  StoredOrder stored;
  {
    Statement st =
        conn.Prepare("SELECT id, user_id, status, total_cents, created_at, order_ref FROM orders WHERE id = ?");
    st.Bind(1, id);
    if (!st.Step()) return std::nullopt;
    stored.order = ReadOrderHead(st);
    stored.order_ref = st.Text(5);
  }
  Statement st = conn.Prepare(
      "SELECT product_id, quantity, unit_price_cents FROM order_items WHERE order_id = ? ORDER BY line_no");
  st.Bind(1, id);
  while (st.Step()) stored.order.items.push_back({st.Int(0), st.Int(1), st.Int(2)});
  return stored;
}

}  // namespace

KeyClaim Store::BeginPlacement(const std::optional<KeyRef>& key, std::string_view saga_id, std::string_view saga,
                               std::string_view first_step, std::int64_t now) {
  Connection& conn = db_.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  if (key) {
    {
      Statement st = conn.Prepare(
          "SELECT request_fingerprint, state, order_id, error_code, error_detail FROM idempotency_keys "
          "WHERE user_id = ? AND key = ?");
      st.Bind(1, key->user_id).Bind(2, key->key);
      if (st.Step()) {
        if (st.Text(0) != key->fingerprint) return Claim(KeyClaim::Kind::kReused);
        if (st.Text(1) == "in_progress") return Claim(KeyClaim::Kind::kInProgress);
        if (!st.IsNull(2)) {
          KeyClaim replay = Claim(KeyClaim::Kind::kReplayOrder);
          replay.order_id = st.Int(2);
          return replay;
        }
        KeyClaim replay = Claim(KeyClaim::Kind::kReplayError);
        replay.error_code = st.Text(3);
        replay.error_detail = st.Text(4);
        return replay;
      }
    }
    Statement insert = conn.Prepare(
        "INSERT INTO idempotency_keys (user_id, key, request_fingerprint, state, created_at) "
        "VALUES (?, ?, ?, 'in_progress', ?)");
    insert.Bind(1, key->user_id).Bind(2, key->key).Bind(3, key->fingerprint).Bind(4, now);
    // Write transactions are serialised, so a conflict can only mean another request holds the key.
    if (insert.TryStep() == sql::StepResult::kConstraint) return Claim(KeyClaim::Kind::kInProgress);
  }
  // The next order id: above every id handed out, whether its saga ended in an order or not.
  // SQLite: both maxima are index lookups, and write transactions are serialised, so no two sagas
  // get one id. PostgreSQL: transactions of several instances run at once, so the orders table's
  // identity sequence hands ids out (never twice, whatever commits or rolls back).
  KeyClaim claim = Claim(KeyClaim::Kind::kClaimed);
  {
    Statement next = conn.Prepare(
        conn.dialect() == sql::Dialect::kPostgres
            ? "SELECT nextval(pg_get_serial_sequence('orders', 'id'))"
            : "SELECT max(coalesce((SELECT max(order_id) FROM saga_log), 0), coalesce((SELECT max(id) FROM orders), 0)) + 1");
    next.Step();
    claim.order_id = next.Int(0);
  }
  conn.Prepare(
          "INSERT INTO saga_log (saga_id, saga, order_id, step, state, reason, attempts, updated_at) "
          "VALUES (?, ?, ?, ?, 'running', 'started', 0, ?)")
      .Bind(1, saga_id)
      .Bind(2, saga)
      .Bind(3, claim.order_id)
      .Bind(4, first_step)
      .Bind(5, now)
      .Step();
  tx.Commit();
  return claim;
}

bool Store::AdvanceSaga(std::string_view saga_id, std::string_view step, std::int64_t now) {
  Connection& conn = db_.ThisThread();
  conn.Prepare("UPDATE saga_log SET step = ?, updated_at = ? WHERE saga_id = ? AND state = 'running'")
      .Bind(1, step)
      .Bind(2, now)
      .Bind(3, saga_id)
      .Step();
  return conn.Changes() == 1;
}

std::optional<Order> Store::RecordOrder(const SagaRef& saga, std::string_view step, std::int64_t user_id,
                                        const std::vector<OrderLine>& lines, const std::optional<KeyRef>& key,
                                        std::int64_t now) {
  Connection& conn = db_.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  conn.Prepare(
          "UPDATE saga_log SET state = 'done', step = ?, reason = 'completed', updated_at = ? "
          "WHERE saga_id = ? AND state = 'running'")
      .Bind(1, step)
      .Bind(2, now)
      .Bind(3, saga.saga_id)
      .Step();
  if (conn.Changes() == 0) return std::nullopt;

  Order order;
  order.user_id = user_id;
  order.status = Status::kConfirmed;
  order.items = lines;
  for (const OrderLine& line : lines) order.total_cents += line.quantity * line.unit_price_cents;
  order.created_at = FormatRfc3339(now);

  Statement insert = conn.Prepare(
      "INSERT INTO orders (id, user_id, status, total_cents, order_ref, created_at) VALUES (?, ?, 'confirmed', ?, ?, ?)");
  if (saga.order_id) insert.Bind(1, *saga.order_id);  // else the next generated id
  insert.Bind(2, user_id).Bind(3, order.total_cents).Bind(4, saga.saga_id).Bind(5, order.created_at).Step();
  order.id = saga.order_id ? *saga.order_id : conn.LastInsertRowId();
  std::int64_t line_no = 0;
  for (const OrderLine& line : lines) {
    conn.Prepare(
            "INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents) VALUES (?, ?, ?, ?, "
            "?)")
        .Bind(1, order.id)
        .Bind(2, line_no++)
        .Bind(3, line.product_id)
        .Bind(4, line.quantity)
        .Bind(5, line.unit_price_cents)
        .Step();
  }
  if (key) {
    conn.Prepare(
            "UPDATE idempotency_keys SET state = 'done', order_id = ? "
            "WHERE user_id = ? AND key = ? AND state = 'in_progress'")
        .Bind(1, order.id)
        .Bind(2, key->user_id)
        .Bind(3, key->key)
        .Step();
  }
  events::AddToOutbox(conn, OrderPlacedEvent(order));
  tx.Commit();
  return order;
}

void Store::RecordRefusal(std::string_view saga_id, const std::optional<KeyRef>& key, std::string_view error_code,
                          std::string_view error_detail, std::int64_t now) {
  Connection& conn = db_.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  const std::string reason = "refused: " + std::string(error_code);
  conn.Prepare(
          "UPDATE saga_log SET state = 'done', reason = ?, updated_at = ? WHERE saga_id = ? AND state = 'running'")
      .Bind(1, reason)
      .Bind(2, now)
      .Bind(3, saga_id)
      .Step();
  if (key) {
    conn.Prepare(
            "UPDATE idempotency_keys SET state = 'done', error_code = ?, error_detail = ? "
            "WHERE user_id = ? AND key = ? AND state = 'in_progress'")
        .Bind(1, error_code)
        .Bind(2, error_detail)
        .Bind(3, key->user_id)
        .Bind(4, key->key)
        .Step();
  }
  tx.Commit();
}

void Store::StartCompensating(std::string_view saga_id, std::string_view step, std::string_view reason,
                              std::int64_t now) {
  db_.ThisThread()
      .Prepare(
          "UPDATE saga_log SET state = 'compensating', step = ?, reason = ?, updated_at = ? "
          "WHERE saga_id = ? AND state = 'running'")
      .Bind(1, step)
      .Bind(2, reason)
      .Bind(3, now)
      .Bind(4, saga_id)
      .Step();
}

void Store::RecordCompensation(std::string_view saga_id, bool compensated, std::int64_t now) {
  db_.ThisThread()
      .Prepare(compensated ? "UPDATE saga_log SET state = 'done', attempts = attempts + 1, updated_at = ? "
                             "WHERE saga_id = ? AND state = 'compensating'"
                           : "UPDATE saga_log SET attempts = attempts + 1, updated_at = ? "
                             "WHERE saga_id = ? AND state = 'compensating'")
      .Bind(1, now)
      .Bind(2, saga_id)
      .Step();
}

void Store::ForgetKey(const KeyRef& key) {
  db_.ThisThread()
      .Prepare("DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND state = 'in_progress'")
      .Bind(1, key.user_id)
      .Bind(2, key.key)
      .Step();
}

std::optional<StoredOrder> Store::FindOrder(std::int64_t id) {
  Connection& conn = db_.ThisThread();
  Transaction tx(conn, Transaction::Kind::kRead);
  return LoadOrder(conn, id);
}

std::vector<Order> Store::ListOrders(std::int64_t user_id, std::int64_t before_id, int limit) {
  Connection& conn = db_.ThisThread();
  Transaction tx(conn, Transaction::Kind::kRead);  // one snapshot for the orders and their lines
  std::vector<Order> orders;
  {
    Statement st = conn.Prepare(
        "SELECT id, user_id, status, total_cents, created_at FROM orders "
        "WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?");
    st.Bind(1, user_id).Bind(2, before_id).Bind(3, limit);
    while (st.Step()) orders.push_back(ReadOrderHead(st));
  }
  if (orders.empty()) return orders;

  // The page is every order of the user between its first and last id, so one range query finds all lines.
  Statement st = conn.Prepare(
      "SELECT i.order_id, i.product_id, i.quantity, i.unit_price_cents FROM order_items i "
      "JOIN orders o ON o.id = i.order_id "
      "WHERE o.user_id = ? AND i.order_id BETWEEN ? AND ? ORDER BY i.order_id DESC, i.line_no");
  st.Bind(1, user_id).Bind(2, orders.back().id).Bind(3, orders.front().id);
  std::size_t next = 0;
  while (st.Step()) {
    const std::int64_t order_id = st.Int(0);
    while (next < orders.size() && orders[next].id > order_id) ++next;
    if (next == orders.size()) break;
    if (orders[next].id == order_id) orders[next].items.push_back({st.Int(1), st.Int(2), st.Int(3)});
  }
  return orders;
}

std::optional<Store::CancelResult> Store::CancelOrder(std::int64_t id, std::int64_t now) {
  Connection& conn = db_.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  std::optional<StoredOrder> stored = LoadOrder(conn, id);
  if (!stored) return std::nullopt;
  if (stored->order.status == Status::kCancelled) return CancelResult{std::move(*stored), false};

  const std::string cancelled_at = FormatRfc3339(now);
  conn.Prepare("UPDATE orders SET status = 'cancelled', cancelled_at = ? WHERE id = ? AND status = 'confirmed'")
      .Bind(1, cancelled_at)
      .Bind(2, id)
      .Step();
  // The read above took no lock on PostgreSQL (READ COMMITTED): a concurrent cancel may have come
  // first; the UPDATE waited for it and then matched nothing. Only the cancel that changed the row
  // announces it.
  if (conn.Changes() == 0) {
    stored->order.status = Status::kCancelled;
    return CancelResult{std::move(*stored), false};
  }
  stored->order.status = Status::kCancelled;
  events::AddToOutbox(conn, OrderCancelledEvent(stored->order));
  tx.Commit();
  return CancelResult{std::move(*stored), true};
}

std::vector<SagaToCompensate> Store::TakeSagasToCompensate(std::int64_t running_before, std::int64_t now) {
  Connection& conn = db_.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  conn.Prepare(
          "UPDATE saga_log SET state = 'compensating', reason = 'abandoned while running', updated_at = ? "
          "WHERE state = 'running' AND updated_at < ?")
      .Bind(1, now)
      .Bind(2, running_before)
      .Step();
  std::vector<SagaToCompensate> sagas;
  {
    Statement st =
        conn.Prepare("SELECT saga_id, order_id, step FROM saga_log WHERE state = 'compensating' ORDER BY updated_at");
    while (st.Step()) {
      SagaToCompensate saga;
      saga.ref.saga_id = st.Text(0);
      if (!st.IsNull(1)) saga.ref.order_id = st.Int(1);
      saga.step = st.Text(2);
      sagas.push_back(std::move(saga));
    }
  }
  tx.Commit();
  return sagas;
}

int Store::CountCompensating() {
  Statement st = db_.ThisThread().Prepare("SELECT COUNT(*) FROM saga_log WHERE state = 'compensating'");
  st.Step();
  return static_cast<int>(st.Int(0));
}

void Store::ForgetUnfinishedKeys() {
  db_.ThisThread().Prepare("DELETE FROM idempotency_keys WHERE state = 'in_progress'").Step();
}

}  // namespace shop::orders
