#include "store.h"

#include "shop/core/time.h"

namespace shop::orders {
namespace {

using sqlite::Connection;
using sqlite::Statement;
using sqlite::Transaction;

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

KeyClaim Store::BeginPlacement(const std::optional<KeyRef>& key, std::string_view order_ref, std::int64_t now) {
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
    if (insert.TryStep() == sqlite::StepResult::kConstraint) return Claim(KeyClaim::Kind::kInProgress);
  }
  conn.Prepare(
          "INSERT INTO sagas (order_ref, state, reason, attempts, updated_at) VALUES (?, 'reserving', 'place', 0, ?)")
      .Bind(1, order_ref)
      .Bind(2, now)
      .Step();
  tx.Commit();
  return Claim(KeyClaim::Kind::kClaimed);
}

std::optional<Order> Store::RecordOrder(std::int64_t user_id, std::string_view order_ref,
                                        const std::vector<OrderLine>& lines, const std::optional<KeyRef>& key,
                                        std::int64_t now) {
  Connection& conn = db_.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  conn.Prepare("UPDATE sagas SET state = 'done', updated_at = ? WHERE order_ref = ? AND state = 'reserving'")
      .Bind(1, now)
      .Bind(2, order_ref)
      .Step();
  if (conn.Changes() == 0) return std::nullopt;

  Order order;
  order.user_id = user_id;
  order.status = Status::kConfirmed;
  order.items = lines;
  for (const OrderLine& line : lines) order.total_cents += line.quantity * line.unit_price_cents;
  order.created_at = FormatRfc3339(now);

  conn.Prepare(
          "INSERT INTO orders (user_id, status, total_cents, order_ref, created_at) VALUES (?, 'confirmed', ?, ?, ?)")
      .Bind(1, user_id)
      .Bind(2, order.total_cents)
      .Bind(3, order_ref)
      .Bind(4, order.created_at)
      .Step();
  order.id = conn.LastInsertRowId();
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
  tx.Commit();
  return order;
}

void Store::RecordRefusal(std::string_view order_ref, const std::optional<KeyRef>& key, std::string_view error_code,
                          std::string_view error_detail, std::int64_t now) {
  Connection& conn = db_.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  conn.Prepare(
          "UPDATE sagas SET state = 'done', reason = 'reserve refused', updated_at = ? "
          "WHERE order_ref = ? AND state = 'reserving'")
      .Bind(1, now)
      .Bind(2, order_ref)
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

void Store::MarkReleasePending(std::string_view order_ref, std::string_view reason, std::int64_t now) {
  db_.ThisThread()
      .Prepare(
          "UPDATE sagas SET state = 'release_pending', reason = ?, updated_at = ? "
          "WHERE order_ref = ? AND state = 'reserving'")
      .Bind(1, reason)
      .Bind(2, now)
      .Bind(3, order_ref)
      .Step();
}

void Store::RecordReleaseAttempt(std::string_view order_ref, bool released, std::int64_t now) {
  db_.ThisThread()
      .Prepare(released ? "UPDATE sagas SET state = 'done', attempts = attempts + 1, updated_at = ? "
                          "WHERE order_ref = ? AND state = 'release_pending'"
                        : "UPDATE sagas SET attempts = attempts + 1, updated_at = ? "
                          "WHERE order_ref = ? AND state = 'release_pending'")
      .Bind(1, now)
      .Bind(2, order_ref)
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

  conn.Prepare("UPDATE orders SET status = 'cancelled', cancelled_at = ? WHERE id = ? AND status = 'confirmed'")
      .Bind(1, FormatRfc3339(now))
      .Bind(2, id)
      .Step();
  conn.Prepare(
          "INSERT INTO sagas (order_ref, state, reason, attempts, updated_at) VALUES (?, 'release_pending', 'cancel', "
          "0, ?) "
          "ON CONFLICT (order_ref) DO UPDATE SET state = 'release_pending', reason = 'cancel', "
          "updated_at = excluded.updated_at")
      .Bind(1, stored->order_ref)
      .Bind(2, now)
      .Step();
  tx.Commit();
  stored->order.status = Status::kCancelled;
  return CancelResult{std::move(*stored), true};
}

std::vector<std::string> Store::TakePendingReleases(std::int64_t reserving_before, std::int64_t now) {
  Connection& conn = db_.ThisThread();
  Transaction tx(conn, Transaction::Kind::kWrite);
  conn.Prepare(
          "UPDATE sagas SET state = 'release_pending', reason = 'abandoned while reserving', updated_at = ? "
          "WHERE state = 'reserving' AND updated_at < ?")
      .Bind(1, now)
      .Bind(2, reserving_before)
      .Step();
  std::vector<std::string> refs;
  {
    Statement st = conn.Prepare("SELECT order_ref FROM sagas WHERE state = 'release_pending' ORDER BY updated_at");
    while (st.Step()) refs.push_back(st.Text(0));
  }
  tx.Commit();
  return refs;
}

int Store::CountPendingReleases() {
  Statement st = db_.ThisThread().Prepare("SELECT COUNT(*) FROM sagas WHERE state = 'release_pending'");
  st.Step();
  return static_cast<int>(st.Int(0));
}

void Store::ForgetUnfinishedKeys() {
  db_.ThisThread().Prepare("DELETE FROM idempotency_keys WHERE state = 'in_progress'").Step();
}

}  // namespace shop::orders
