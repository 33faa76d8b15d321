#include "store.h"

#include <charconv>
#include <stdexcept>
#include <string>

namespace shop::products {
namespace {

/// A row of `id, sku, name, price_cents, stock, created_at`: the columns, in this order, of every
/// query that returns products.
Product ReadProduct(const sql::Statement& row) {
  return Product{row.Int(0), row.Text(1), row.Text(2), row.Int(3), row.Int(4), row.Text(5)};
}

std::string_view StateName(Store::ReservationState state) {
  return state == Store::ReservationState::kReserved ? "reserved" : "released";
}

}  // namespace

sql::Transaction Store::BeginWrite() {
  return sql::Transaction(db_.ThisThread(), sql::Transaction::Kind::kWrite);
}

std::optional<Product> Store::FindProduct(std::int64_t id) {
  auto stmt =
      db_.ThisThread().Prepare("SELECT id, sku, name, price_cents, stock, created_at FROM products WHERE id = ?");
  stmt.Bind(1, id);
  if (!stmt.Step()) return std::nullopt;
  return ReadProduct(stmt);
}

std::vector<Product> Store::ListProducts(std::int64_t after, int limit) {
  auto stmt = db_.ThisThread().Prepare(
      "SELECT id, sku, name, price_cents, stock, created_at FROM products WHERE id > ? ORDER BY id LIMIT ?");
  stmt.Bind(1, after).Bind(2, limit);
  std::vector<Product> products;
  while (stmt.Step()) products.push_back(ReadProduct(stmt));
  return products;
}

std::optional<std::int64_t> Store::InsertProduct(const NewProduct& product, std::string_view created_at) {
  sql::Connection& conn = db_.ThisThread();
  auto stmt = conn.Prepare("INSERT INTO products(sku, name, price_cents, stock, created_at) VALUES (?, ?, ?, ?, ?)");
  stmt.Bind(1, product.sku).Bind(2, product.name).Bind(3, product.price_cents).Bind(4, product.stock);
  stmt.Bind(5, created_at);
  // The service has checked every CHECK constraint already, so the one left to fail is UNIQUE(sku).
  if (stmt.TryStep() == sql::StepResult::kConstraint) return std::nullopt;
  return conn.LastInsertRowId();
}

std::optional<Product> Store::UpdateProduct(std::int64_t id, const ProductPatch& patch) {
  auto stmt = db_.ThisThread().Prepare(
      "UPDATE products SET name = coalesce(?1, name), price_cents = coalesce(?2, price_cents),"
      " stock = coalesce(?3, stock) WHERE id = ?4 RETURNING id, sku, name, price_cents, stock, created_at");
  if (patch.name) stmt.Bind(1, *patch.name);
  if (patch.price_cents) stmt.Bind(2, *patch.price_cents);
  if (patch.stock) stmt.Bind(3, *patch.stock);
  stmt.Bind(4, id);
  if (!stmt.Step()) return std::nullopt;
  Product product = ReadProduct(stmt);
  stmt.Step();  // runs the statement to completion, which commits it
  return product;
}

std::optional<Store::StockLevel> Store::FindStock(std::int64_t product_id) {
  auto stmt = db_.ThisThread().Prepare("SELECT stock, price_cents FROM products WHERE id = ?");
  stmt.Bind(1, product_id);
  if (!stmt.Step()) return std::nullopt;
  return StockLevel{stmt.Int(0), stmt.Int(1)};
}

void Store::LockStock(std::span<const std::int64_t> ids) {
  if (db_.dialect() != sql::Dialect::kPostgres || ids.empty()) return;
  std::string array = "{";  // a PostgreSQL array literal: {1,2,3}
  for (std::int64_t id : ids) {
    if (array.size() > 1) array += ',';
    array += std::to_string(id);
  }
  array += '}';
  auto stmt = db_.ThisThread().Prepare("SELECT id FROM products WHERE id = ANY(?::bigint[]) ORDER BY id FOR UPDATE");
  stmt.Bind(1, std::string_view(array));
  while (stmt.Step()) {
  }
}

std::optional<std::int64_t> Store::TakeStock(std::int64_t product_id, std::int64_t quantity, const StockLevel& seen) {
  // Not `RETURNING stock`: SQLite runs RETURNING through an ephemeral table (a b-tree built and
  // dropped per statement, its page zeroed: ≈20k instructions, callgrind); this is the hot path of
  // every order line.
  sql::Connection& conn = db_.ThisThread();
  conn.Prepare("UPDATE products SET stock = stock - ?1 WHERE id = ?2 AND stock >= ?1")
      .Bind(1, quantity)
      .Bind(2, product_id)
      .Step();
  if (conn.Changes() == 0) return std::nullopt;
  if (db_.dialect() == sql::Dialect::kSqlite) return seen.stock - quantity;
  auto read = conn.Prepare("SELECT stock FROM products WHERE id = ?");
  read.Bind(1, product_id);
  if (!read.Step()) return std::nullopt;
  return read.Int(0);
}

std::int64_t Store::ReturnStock(std::int64_t product_id, std::int64_t quantity) {
  auto stmt = db_.ThisThread().Prepare("UPDATE products SET stock = stock + ? WHERE id = ? RETURNING stock");
  stmt.Bind(1, quantity).Bind(2, product_id);
  // A reserved product cannot be deleted (nothing deletes products), so the row is there.
  if (!stmt.Step()) throw std::runtime_error("stock returned to a missing product " + std::to_string(product_id));
  const std::int64_t stock = stmt.Int(0);
  stmt.Step();
  return stock;
}

namespace {

/// A row of `order_ref, state, order_id`.
Store::Reservation ReadReservation(const sql::Statement& row) {
  Store::Reservation r;
  r.order_ref = row.Text(0);
  r.state = row.Text(1) == "reserved" ? Store::ReservationState::kReserved : Store::ReservationState::kReleased;
  if (!row.IsNull(2)) r.order_id = row.Int(2);
  return r;
}

}  // namespace

std::optional<Store::Reservation> Store::FindReservation(std::string_view order_ref) {
  auto stmt = db_.ThisThread().Prepare("SELECT order_ref, state, order_id FROM reservations WHERE order_ref = ?");
  stmt.Bind(1, order_ref);
  if (!stmt.Step()) return std::nullopt;
  return ReadReservation(stmt);
}

std::optional<Store::Reservation> Store::FindReservationOfOrder(std::int64_t order_id) {
  auto stmt = db_.ThisThread().Prepare("SELECT order_ref, state, order_id FROM reservations WHERE order_id = ?");
  stmt.Bind(1, order_id);
  if (!stmt.Step()) return std::nullopt;
  return ReadReservation(stmt);
}

std::vector<ReservedLine> Store::ReservationLines(std::string_view order_ref) {
  auto stmt = db_.ThisThread().Prepare(
      "SELECT product_id, quantity, unit_price_cents FROM reservation_lines WHERE order_ref = ? ORDER BY line_no");
  stmt.Bind(1, order_ref);
  std::vector<ReservedLine> lines;
  while (stmt.Step()) lines.push_back(ReservedLine{stmt.Int(0), stmt.Int(1), stmt.Int(2)});
  return lines;
}

bool Store::InsertReservation(std::string_view order_ref, std::optional<std::int64_t> order_id,
                              ReservationState state, std::string_view now) {
  sql::Connection& conn = db_.ThisThread();
  // ON CONFLICT rather than catching the violation: on PostgreSQL that would cost a savepoint.
  auto stmt = conn.Prepare(
      "INSERT INTO reservations(order_ref, state, created_at, updated_at, order_id) VALUES (?1, ?2, ?3, ?3, ?4) "
      "ON CONFLICT DO NOTHING");
  stmt.Bind(1, order_ref).Bind(2, StateName(state)).Bind(3, now);
  if (order_id) stmt.Bind(4, *order_id);
  stmt.Step();
  return conn.Changes() == 1;
}

void Store::InsertReservationLine(std::string_view order_ref, std::int64_t line_no, const ReservedLine& line) {
  auto stmt = db_.ThisThread().Prepare(
      "INSERT INTO reservation_lines(order_ref, line_no, product_id, quantity, unit_price_cents)"
      " VALUES (?, ?, ?, ?, ?)");
  stmt.Bind(1, order_ref).Bind(2, line_no).Bind(3, line.product_id).Bind(4, line.quantity);
  stmt.Bind(5, line.unit_price_cents).Step();
}

bool Store::MarkReleased(std::string_view order_ref, std::string_view now) {
  sql::Connection& conn = db_.ThisThread();
  conn.Prepare("UPDATE reservations SET state = 'released', updated_at = ? WHERE order_ref = ? AND state = 'reserved'")
      .Bind(1, now)
      .Bind(2, order_ref)
      .Step();
  return conn.Changes() == 1;
}

void Store::AddEvent(const events::Event& event) { events::AddToOutbox(db_.ThisThread(), event); }

void Store::AnnounceChanged(std::span<const std::int64_t> ids) {
  if (db_.dialect() != sql::Dialect::kPostgres || ids.empty()) return;
  // NOTIFY payloads stop short of 8000 bytes: about 400 ids each.
  std::string payload;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!payload.empty()) payload += ',';
    payload += std::to_string(ids[i]);
    if (payload.size() > 7000 || i + 1 == ids.size()) {
      db_.Announce(db_.ThisThread(), kChangesChannel, payload);
      payload.clear();
    }
  }
}

std::vector<std::int64_t> Store::ReadAnnouncement(std::string_view payload) {
  std::vector<std::int64_t> ids;
  while (!payload.empty()) {
    const std::size_t comma = payload.find(',');
    const std::string_view part = payload.substr(0, comma);
    std::int64_t id = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), id);
    if (ec == std::errc() && end == part.data() + part.size()) ids.push_back(id);
    if (comma == std::string_view::npos) break;
    payload.remove_prefix(comma + 1);
  }
  return ids;
}

}  // namespace shop::products
