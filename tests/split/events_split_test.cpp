// Domain events in the split layout with real processes on a real NATS server (PLATFORM.md
// "Events", API.md's cancel rule): a cancel answers at once and its order_cancelled event gives the
// stock back exactly once, whatever stops in between (products, the NATS server, orders killed
// between commit and publish); a repeated delivery changes nothing; a poison event is set aside
// after its attempts and the events behind it still flow. The cases share one layout and run in
// file order (--order-by=file); each uses its own product, so its stock arithmetic is its own.
#include <doctest/doctest.h>
#include <nats/nats.h>

#include <poll.h>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "service_process.h"
#include "shop/http_client/client.h"
#include "shop/sql/sqlite.h"
#include "temp_dir.h"

namespace {

using shop::testing::ServiceProcess;
using shop::testing::WriteOrdersSecret;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kAdminEmail = "events-admin@example.com";
constexpr const char* kAdminPassword = "events-admin-password";
constexpr const char* kOrderCancelled = "shop.orders.order_cancelled.v1";
constexpr const char* kStockRelease = "products-stock-release";

struct Reply {
  int status = 0;  // 0: no answer at all
  boost::json::value body;
};

long long Ms(Clock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

std::string RandomHex(int bytes) {
  static std::mt19937_64 random{std::random_device{}()};
  std::string hex;
  for (int i = 0; i < bytes; ++i) {
    const auto byte = random() % 256;
    hex += "0123456789abcdef"[byte / 16];
    hex += "0123456789abcdef"[byte % 16];
  }
  return hex;
}

/// Polls `done` until it holds or `deadline` passes; how long it took, or nullopt when it never held.
template <class F>
std::optional<Clock::duration> PollFor(F done, Clock::duration deadline, Clock::time_point since = Clock::now()) {
  const auto until = Clock::now() + deadline;
  while (true) {
    if (done()) return Clock::now() - since;
    if (Clock::now() >= until) return std::nullopt;
    ::poll(nullptr, 0, 20);  // polling a condition with a deadline
  }
}

/// An outside client of stream SHOP_EVENTS through the NATS C client: reads what is stored and
/// publishes as any producer could.
class EventStream {
 public:
  struct Stored {
    std::uint64_t seq = 0;
    std::string msg_id;  ///< its Nats-Msg-Id header
    std::string body;    ///< the CloudEvents JSON as published
  };

  explicit EventStream(const std::string& url) {
    if (natsConnection_ConnectTo(&conn_, url.c_str()) != NATS_OK) throw std::runtime_error("cannot connect to " + url);
    if (natsConnection_JetStream(&js_, conn_, nullptr) != NATS_OK) throw std::runtime_error("no JetStream context");
  }
  ~EventStream() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(conn_);
  }
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  /// Every message stored on `subject`, oldest first.
  std::vector<Stored> Messages(const std::string& subject) {
    std::vector<Stored> out;
    jsStreamInfo* info = nullptr;
    if (js_GetStreamInfo(&info, js_, "SHOP_EVENTS", nullptr, nullptr) != NATS_OK) return out;
    const std::uint64_t first = info->State.FirstSeq, last = info->State.LastSeq;
    jsStreamInfo_Destroy(info);
    for (std::uint64_t seq = first; seq != 0 && seq <= last; ++seq) {
      natsMsg* msg = nullptr;
      if (js_GetMsg(&msg, js_, "SHOP_EVENTS", seq, nullptr, nullptr) != NATS_OK) continue;  // deleted
      if (subject == natsMsg_GetSubject(msg)) {
        Stored stored{.seq = seq, .body = std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg))};
        const char* id = nullptr;
        if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id) stored.msg_id = id;
        out.push_back(std::move(stored));
      }
      natsMsg_Destroy(msg);
    }
    return out;
  }

  /// Publishes `body` on `subject` with `msg_id` as Nats-Msg-Id; true once JetStream stored it.
  bool Publish(const std::string& subject, const std::string& body, const std::string& msg_id) {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = msg_id.c_str();
    jsPubAck* ack = nullptr;
    const natsStatus s =
        js_Publish(&ack, js_, subject.c_str(), body.data(), static_cast<int>(body.size()), &options, nullptr);
    const bool stored = s == NATS_OK && ack && !ack->Duplicate;
    jsPubAck_Destroy(ack);
    return stored;
  }

 private:
  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
};

/// One integer from `sql` (with `text` bound to ?1 when given) on a service's database file, read
/// beside the running service (WAL: a reader never blocks its writer).
std::int64_t QueryInt(const std::filesystem::path& db, const std::string& sql, const std::string& text = {}) {
  shop::sql::sqlite::Connection conn(db.string(), 2000);
  auto statement = conn.Prepare(sql);
  if (!text.empty()) statement.Bind(1, std::string_view(text));
  REQUIRE(statement.Step());
  return statement.Int(0);
}

/// The four processes of the split layout and their NATS server, found by each other through the registry.
struct Layout {
  shop::testing::TempDir dir;
  std::filesystem::path secrets = WriteOrdersSecret(dir / "secrets");
  shop::testing::NatsServer nats{dir.path()};
  std::unique_ptr<ServiceProcess> users, products, orders, gateway;
  std::unique_ptr<shop::http::Client> client;

  Layout() {
    nats.Start();
    const auto bin = ServiceProcess::BinDir();
    const std::pair<std::string, std::string> platform{"SHOP_NATS_URL", nats.url()};
    users = std::make_unique<ServiceProcess>(
        ServiceProcess::Options{bin / "shop-users",
                                {"--port", "{port}", "--data-dir", (dir / "users").string(), "--threads", "2",
                                 "--service-credentials-dir", secrets.string()},
                                {{"SHOP_ADMIN_EMAIL", kAdminEmail}, {"SHOP_ADMIN_PASSWORD", kAdminPassword}, platform},
                                dir / "users.log"});
    users->Start();
    products = std::make_unique<ServiceProcess>(
        ServiceProcess::Options{bin / "shop-products",
                                {"--port", "{port}", "--data-dir", (dir / "products").string(), "--threads", "2"},
                                {platform},
                                dir / "products.log"});
    products->Start();
    orders = std::make_unique<ServiceProcess>(
        ServiceProcess::Options{bin / "shop-orders",
                                {"--port", "{port}", "--data-dir", (dir / "orders").string(), "--threads", "2"},
                                {{"SHOP_SERVICE_SECRET_FILE", (secrets / "orders").string()}, platform},
                                dir / "orders.log"});
    orders->Start();
    gateway = std::make_unique<ServiceProcess>(ServiceProcess::Options{
        bin / "shop-gateway", {"--port", "{port}", "--threads", "2"}, {platform}, dir / "gateway.log"});
    gateway->Start();
    // The test's own client never retries and never opens its circuit: it must see every answer.
    client = std::make_unique<shop::http::Client>(shop::http::ClientOptions{
        .name = "test", .base_url = gateway->url(), .max_attempts = 1, .breaker_failures = 1 << 30});
  }

  std::filesystem::path orders_db() const { return dir / "orders" / "orders.db"; }
  std::filesystem::path products_db() const { return dir / "products" / "products.db"; }

  /// A call through the gateway, as a shopper makes it.
  Reply Call(const std::string& method, const std::string& target, const std::string& token = {},
             const std::string& body = {}) {
    shop::http::Request request;
    request.method = method;
    request.target = target;
    if (!token.empty()) request.headers.Add("Authorization", "Bearer " + token);
    if (!body.empty()) {
      request.headers.Add("Content-Type", "application/json");
      request.body = body;
    }
    return Parse(client->Send(std::move(request), false));
  }

  /// GET `target` from one process directly (a fresh client: the process may have restarted).
  static std::optional<shop::http::Response> Get(const ServiceProcess& process, const std::string& target) {
    shop::http::Client direct({.name = "direct", .base_url = process.url(), .max_attempts = 1});
    shop::http::Request request;
    request.method = "GET";
    request.target = target;
    auto response = direct.Send(std::move(request), false);
    if (!response) return std::nullopt;
    return std::move(*response);
  }

  static Reply Parse(std::expected<shop::http::Response, shop::http::CallError> response) {
    Reply reply;
    if (!response) return reply;
    reply.status = response->status;
    boost::system::error_code ec;
    reply.body = boost::json::parse(response->body, ec);
    return reply;
  }
};

Layout& TheLayout() {
  static Layout layout;
  return layout;
}

/// The value of one series (name with its labels, as exposed) in `process`'s /metrics; nullopt when
/// the process does not answer or does not expose it.
std::optional<std::int64_t> Metric(const ServiceProcess& process, const std::string& series) {
  auto response = Layout::Get(process, "/metrics");
  if (!response || response->status != 200) return std::nullopt;
  const std::string& text = response->body;
  for (std::size_t at = text.find(series + ' '); at != std::string::npos; at = text.find(series + ' ', at + 1)) {
    if (at == 0 || text[at - 1] == '\n')
      return static_cast<std::int64_t>(std::stod(text.substr(at + series.size() + 1)));
  }
  return std::nullopt;
}

const std::string kOrdersBacklog = R"(shop_outbox_backlog{module="orders",destination="jetstream"})";

struct Session {
  std::string admin, customer;
};

Session& TheSession() {
  static Session session = [] {
    Layout& l = TheLayout();
    Session s;
    REQUIRE(l.Call("POST", "/users", {},
                   R"({"email":"events-customer@example.com","password":"customer-password","name":"E"})")
                .status == 201);
    auto token = [&](const char* email, const char* password) {
      Reply r = l.Call("POST", "/auth/token", {},
                       boost::json::serialize(boost::json::object{{"email", email}, {"password", password}}));
      REQUIRE(r.status == 200);
      return std::string(r.body.at("access_token").as_string());
    };
    s.customer = token("events-customer@example.com", "customer-password");
    s.admin = token(kAdminEmail, kAdminPassword);
    return s;
  }();
  return session;
}

/// A new product with `stock` units; its id.
std::int64_t NewProduct(Layout& l, std::int64_t stock) {
  Reply r = l.Call("POST", "/products", TheSession().admin,
                   R"({"sku":"events-)" + RandomHex(6) + R"(","name":"Events","price_cents":250,"stock":)" +
                       std::to_string(stock) + "}");
  REQUIRE(r.status == 201);
  return r.body.at("id").as_int64();
}

/// The stock of `product` as its owner, the products service, reports it; nullopt while it does not answer.
std::optional<std::int64_t> StockAtProducts(Layout& l, std::int64_t product) {
  auto response = Layout::Get(*l.products, "/products/" + std::to_string(product));
  if (!response || response->status != 200) return std::nullopt;
  boost::system::error_code ec;
  auto body = boost::json::parse(response->body, ec);
  if (ec) return std::nullopt;
  return body.at("stock").as_int64();
}

/// The stock of `product` through the gateway, as a shopper sees it.
std::int64_t Stock(Layout& l, std::int64_t product) {
  Reply r = l.Call("GET", "/products/" + std::to_string(product));
  REQUIRE(r.status == 200);
  return r.body.at("stock").as_int64();
}

/// Places an order of `quantity` units of `product` for the customer; its id.
std::int64_t PlaceOrder(Layout& l, std::int64_t product, int quantity) {
  Reply r = l.Call(
      "POST", "/orders", TheSession().customer,
      R"({"items":[{"product_id":)" + std::to_string(product) + R"(,"quantity":)" + std::to_string(quantity) + "}]}");
  REQUIRE(r.status == 201);
  return r.body.at("id").as_int64();
}

/// Cancels `order` through the gateway and checks the answer: 200, status cancelled, at once (well
/// under a second: a cancel is recorded locally, nothing waits on products or NATS). How long it took.
Clock::duration CancelAtOnce(Layout& l, std::int64_t order) {
  const auto start = Clock::now();
  Reply r = l.Call("POST", "/orders/" + std::to_string(order) + "/cancel", TheSession().customer);
  const auto took = Clock::now() - start;
  CAPTURE(order);
  CHECK(r.status == 200);
  if (r.status == 200) CHECK(r.body.at("status").as_string() == "cancelled");
  CHECK(took < milliseconds(1000));
  return took;
}

/// Polls products until `product`'s stock is `expected`, for up to `deadline` measured from `since`;
/// how long after `since` it got there, or nullopt.
std::optional<Clock::duration> AwaitStock(Layout& l, std::int64_t product, std::int64_t expected,
                                          Clock::duration deadline, Clock::time_point since) {
  return PollFor([&] { return StockAtProducts(l, product) == expected; }, deadline - (Clock::now() - since), since);
}

/// True when a shopper's calls reach every service: the gateway routes to products and orders,
/// and orders reaches products (its /health/ready).
bool Routable(Layout& l, std::int64_t product) {
  return l.Call("GET", "/products/" + std::to_string(product)).status == 200 &&
         l.Call("GET", "/orders?limit=1", TheSession().customer).status == 200 &&
         shop::testing::HttpGetStatus(l.orders->port(), "/health/ready") == 200;
}

/// How long after `since` (a restart) the stock of `product` was back to `expected`, and how long
/// until a shopper's calls reached every service again, each polled on its own until `deadline`.
/// A restarted instance is ready (Start() returned) a moment before its next heartbeat puts it in
/// the registry, so the first calls through the gateway may still get 503.
struct Recovery {
  std::optional<Clock::duration> stock, routable;
};
Recovery AwaitRecovery(Layout& l, std::int64_t product, std::int64_t expected, Clock::time_point since,
                       Clock::duration deadline) {
  Recovery r;
  PollFor(
      [&] {
        if (!r.stock && StockAtProducts(l, product) == expected) r.stock = Clock::now() - since;
        if (!r.routable && Routable(l, product)) r.routable = Clock::now() - since;
        return r.stock && r.routable;
      },
      deadline - (Clock::now() - since));
  return r;
}

/// After `order`'s stock came back to `expected`: cancelling it again answers 200 and changes
/// nothing, and no second release arrives later. A later order's cancel is the barrier: once its
/// stock is back, everything published before it was consumed, and the stock must be `expected`.
void CheckReleasedOnce(Layout& l, std::int64_t product, std::int64_t order, std::int64_t expected) {
  Reply again = l.Call("POST", "/orders/" + std::to_string(order) + "/cancel", TheSession().customer);
  CHECK(again.status == 200);
  if (again.status == 200) CHECK(again.body.at("status").as_string() == "cancelled");

  const std::int64_t barrier = PlaceOrder(l, product, 1);
  CHECK(Stock(l, product) == expected - 1);
  CancelAtOnce(l, barrier);
  const auto since = Clock::now();
  const auto back = AwaitStock(l, product, expected, seconds(10), since);
  CHECK_MESSAGE(back.has_value(), "the barrier's stock never came back");
  CHECK(Stock(l, product) == expected);
}

/// The order_cancelled events of `order` stored in SHOP_EVENTS.
std::vector<EventStream::Stored> CancelledEventsOf(Layout& l, std::int64_t order) {
  EventStream stream(l.nats.url());
  std::vector<EventStream::Stored> out;
  for (auto& m : stream.Messages(kOrderCancelled)) {
    boost::system::error_code ec;
    auto event = boost::json::parse(m.body, ec);
    if (ec || !event.is_object()) continue;
    const auto* data = event.as_object().if_contains("data");
    const auto* id = data && data->is_object() ? data->as_object().if_contains("order_id") : nullptr;
    if (id && id->is_int64() && id->as_int64() == order) out.push_back(std::move(m));
  }
  return out;
}

std::int64_t OutboxCancelsOf(Layout& l, std::int64_t order) {
  return QueryInt(l.orders_db(),
                  "SELECT count(*) FROM outbox WHERE type = 'shop.orders.order_cancelled.v1' AND "
                  "json_extract(data, '$.order_id') = CAST(?1 AS INTEGER)",
                  std::to_string(order));
}

}  // namespace

TEST_CASE(
    "a cancel while products is down answers at once; the stock is back within 1 s of products being ready, once") {
  Layout& l = TheLayout();
  const std::int64_t product = NewProduct(l, 50);
  const std::int64_t order = PlaceOrder(l, product, 5);
  REQUIRE(Stock(l, product) == 45);

  REQUIRE(l.products->Stop() == 0);
  const auto took = CancelAtOnce(l, order);
  l.products->Start();  // returns once products answers /health/ready with 200
  const auto ready = Clock::now();
  const Recovery r = AwaitRecovery(l, product, 50, ready, seconds(15));
  REQUIRE_MESSAGE(r.stock.has_value(), "the stock of the cancelled order never came back");
  REQUIRE_MESSAGE(r.routable.has_value(), "the restarted products never became routable");
  MESSAGE("cancel answered in " << Ms(took) << " ms; stock back " << Ms(*r.stock)
                                << " ms after products was ready; calls through the gateway reached it after "
                                << Ms(*r.routable) << " ms");
  CHECK(*r.stock <= milliseconds(1000));
  CheckReleasedOnce(l, product, order, 50);
}

TEST_CASE("orders restarted while products is down is ready and takes a cancel; the stock comes back once") {
  Layout& l = TheLayout();
  const std::int64_t product = NewProduct(l, 60);
  const std::int64_t order = PlaceOrder(l, product, 4);
  REQUIRE(Stock(l, product) == 56);

  REQUIRE(l.products->Stop() == 0);
  REQUIRE(l.orders->Stop() == 0);
  l.orders->Start();  // returns once orders answers /health/ready with 200: products is not required
  // The restarted instance is routable once its first heartbeat reached the gateway's registry view.
  const auto until = Clock::now() + seconds(5);
  Reply cancelled = l.Call("POST", "/orders/" + std::to_string(order) + "/cancel", TheSession().customer);
  while (cancelled.status != 200 && Clock::now() < until) {
    cancelled = l.Call("POST", "/orders/" + std::to_string(order) + "/cancel", TheSession().customer);
  }
  REQUIRE(cancelled.status == 200);
  CHECK(cancelled.body.at("status").as_string() == "cancelled");

  l.products->Start();
  const auto ready = Clock::now();
  const Recovery r = AwaitRecovery(l, product, 60, ready, seconds(15));
  REQUIRE_MESSAGE(r.stock.has_value(), "the stock of the cancelled order never came back");
  REQUIRE_MESSAGE(r.routable.has_value(), "the restarted products never became routable");
  CHECK(*r.stock <= milliseconds(1000));
  CheckReleasedOnce(l, product, order, 60);
}

TEST_CASE("a cancel while NATS is down: the stock comes back once NATS is back on its port with its store, once") {
  Layout& l = TheLayout();
  const std::int64_t product = NewProduct(l, 40);
  const std::int64_t order = PlaceOrder(l, product, 4);
  REQUIRE(Stock(l, product) == 36);

  REQUIRE(l.nats.Stop() != -1);  // nats-server exits 1 on SIGTERM; -1 would be a timeout
  const auto took = CancelAtOnce(l, order);
  l.nats.Start();  // the same port and store directory
  const auto restarted = Clock::now();
  const Recovery r = AwaitRecovery(l, product, 40, restarted, seconds(30));
  REQUIRE_MESSAGE(r.stock.has_value(), "the stock of the order cancelled while NATS was down never came back");
  REQUIRE_MESSAGE(r.routable.has_value(), "calls through the gateway never reached every service again");
  MESSAGE("cancel answered in " << Ms(took) << " ms with NATS down; stock back " << Ms(*r.stock)
                                << " ms after NATS accepted connections again; calls through the gateway "
                                << "reached every service after " << Ms(*r.routable) << " ms");
  // The clients reconnect within 250 ms to ~1.25 s (reconnect wait and jitter); the relay and the
  // consumer then need one retry each.
  CHECK(*r.stock <= seconds(10));
  CHECK(CancelledEventsOf(l, order).size() == 1);
  CheckReleasedOnce(l, product, order, 40);
}

TEST_CASE("orders killed between commit and publish: the event goes out from its outbox after the restart, once") {
  Layout& l = TheLayout();
  const std::int64_t product = NewProduct(l, 30);
  const std::int64_t order = PlaceOrder(l, product, 3);
  REQUIRE(Stock(l, product) == 27);
  // Nothing waits to be published before the outage.
  REQUIRE(PollFor([&] { return Metric(*l.orders, kOrdersBacklog) == 0; }, seconds(5)).has_value());

  REQUIRE(l.nats.Stop() != -1);  // the event cannot be published
  CancelAtOnce(l, order);        // committed
  std::optional<std::int64_t> backlog;
  const auto seen = PollFor(
      [&] {
        backlog = Metric(*l.orders, kOrdersBacklog);
        return backlog.value_or(0) > 0;
      },
      seconds(5));
  CHECK_MESSAGE(seen.has_value(), "orders' /metrics never showed the unpublished event as backlog");
  MESSAGE("orders' backlog while NATS was down: " << backlog.value_or(-1));
  CHECK(l.orders->Kill() == 128 + SIGKILL);
  // The event exists only in orders.db now.
  CHECK(OutboxCancelsOf(l, order) == 1);
  CHECK(Stock(l, product) == 27);

  l.nats.Start();
  l.orders->Start();
  const auto ready = Clock::now();
  const auto backlog_at_start = Metric(*l.orders, kOrdersBacklog);
  const auto stock_at_start = StockAtProducts(l, product);
  const Recovery r = AwaitRecovery(l, product, 30, ready, seconds(20));
  REQUIRE_MESSAGE(r.stock.has_value(), "the stock of the order cancelled before orders was killed never came back");
  REQUIRE_MESSAGE(r.routable.has_value(), "the restarted orders never became routable");
  MESSAGE("stock back " << Ms(*r.stock) << " ms after the restarted orders was ready; calls through the gateway "
                        << "reached it after " << Ms(*r.routable) << " ms; its backlog read "
                        << backlog_at_start.value_or(-1) << " as it became ready (stock then "
                        << stock_at_start.value_or(-1) << ")");
  const auto drained = PollFor([&] { return Metric(*l.orders, kOrdersBacklog) == 0; }, seconds(10));
  CHECK_MESSAGE(drained.has_value(),
                "orders' backlog did not return to 0: " << Metric(*l.orders, kOrdersBacklog).value_or(-1));
  // Published once: one message in the stream, under the event's own id.
  const auto stored = CancelledEventsOf(l, order);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].msg_id == boost::json::parse(stored[0].body).at("id").as_string());
  CheckReleasedOnce(l, product, order, 30);
}

TEST_CASE("a real order_cancelled delivered again under another Nats-Msg-Id is consumed and changes nothing") {
  Layout& l = TheLayout();
  const std::int64_t product = NewProduct(l, 20);
  const std::int64_t order = PlaceOrder(l, product, 2);
  REQUIRE(Stock(l, product) == 18);
  CancelAtOnce(l, order);
  const auto back = AwaitStock(l, product, 20, seconds(10), Clock::now());
  REQUIRE(back.has_value());
  CHECK(*back <= milliseconds(1000));  // products is up: API.md's 1 s

  // The exact CloudEvents JSON orders published, as JetStream stored it.
  const auto stored = CancelledEventsOf(l, order);
  REQUIRE(stored.size() == 1);
  const std::string event_id(boost::json::parse(stored[0].body).at("id").as_string());
  CHECK(stored[0].msg_id == event_id);
  CHECK(QueryInt(l.orders_db(), "SELECT count(*) FROM outbox WHERE id = ?1", event_id) == 1);
  CHECK(QueryInt(l.products_db(),
                 "SELECT count(*) FROM inbox WHERE consumer = 'products-stock-release' AND event_id = ?1",
                 event_id) == 1);

  const auto consumed_before = Metric(*l.products, "shop_events_consumed_total");
  REQUIRE(consumed_before.has_value());
  {
    EventStream stream(l.nats.url());
    REQUIRE(stream.Publish(kOrderCancelled, stored[0].body, "forced-redelivery-" + RandomHex(8)));
  }
  const auto since = Clock::now();
  const auto consumed = PollFor(
      [&] { return Metric(*l.products, "shop_events_consumed_total").value_or(0) > *consumed_before; }, seconds(10));
  REQUIRE_MESSAGE(consumed.has_value(), "products did not consume the repeated event");
  MESSAGE("the repeated event was consumed " << Ms(Clock::now() - since) << " ms after it was published");
  CHECK(Metric(*l.products, "shop_events_consumed_total") == *consumed_before + 1);
  CHECK(Stock(l, product) == 20);
  CHECK(QueryInt(l.products_db(),
                 "SELECT count(*) FROM inbox WHERE consumer = 'products-stock-release' AND event_id = ?1",
                 event_id) == 1);
  CheckReleasedOnce(l, product, order, 20);
}

TEST_CASE(
    "a poison order_cancelled is set aside after 5 attempts, once; a real cancel behind it still gets its stock back") {
  Layout& l = TheLayout();
  // Without order_id, and with order_id as a string: neither can ever be applied.
  const std::vector<std::pair<std::string, std::string>> poisons{
      {"no order_id", R"({"user_id":1,"items":[{"product_id":1,"quantity":1,"unit_price_cents":100}]})"},
      {"order_id as a string", R"({"order_id":"12","user_id":1,"items":[]})"}};
  for (const auto& [what, data] : poisons) {
    CAPTURE(what);
    const auto set_aside_before = Metric(*l.products, "shop_events_set_aside_total");
    const auto failed_before = Metric(*l.products, "shop_events_failed_total");
    REQUIRE(set_aside_before.has_value());
    REQUIRE(failed_before.has_value());
    const std::string id = RandomHex(16);
    const std::string body =
        R"({"specversion":"1.0","id":")" + id +
        R"(","source":"/shop/orders","type":"shop.orders.order_cancelled.v1","time":"2026-01-01T00:00:00Z",)"
        R"("datacontenttype":"application/json","data":)" +
        data + "}";
    {
      EventStream stream(l.nats.url());
      REQUIRE(stream.Publish(kOrderCancelled, body, id));
    }
    const auto since = Clock::now();
    const auto aside =
        PollFor([&] { return Metric(*l.products, "shop_events_set_aside_total").value_or(0) > *set_aside_before; },
                seconds(30));
    REQUIRE_MESSAGE(aside.has_value(), "the poison event was never set aside");
    MESSAGE(what << ": set aside " << Ms(Clock::now() - since) << " ms after it was published");
    CHECK(QueryInt(l.products_db(),
                   "SELECT count(*) FROM dead_letters WHERE consumer = 'products-stock-release' AND event_id = ?1",
                   id) == 1);
    CHECK(QueryInt(l.products_db(),
                   "SELECT attempts FROM dead_letters WHERE consumer = 'products-stock-release' AND event_id = ?1",
                   id) == 5);
    CHECK(Metric(*l.products, "shop_events_failed_total") == *failed_before + 5);

    // A real cancel published after it: its stock comes back as API.md promises (products is up: 1 s).
    const std::int64_t product = NewProduct(l, 10);
    const std::int64_t order = PlaceOrder(l, product, 2);
    CancelAtOnce(l, order);
    const auto back = AwaitStock(l, product, 10, seconds(10), Clock::now());
    REQUIRE_MESSAGE(back.has_value(), "the stock of a cancel behind the poison event never came back");
    MESSAGE(what << ": the next cancel's stock back in " << Ms(*back) << " ms");
    CHECK(*back <= milliseconds(1000));
    // Set aside once: the count grew by exactly one, and stays so behind the later event.
    CHECK(Metric(*l.products, "shop_events_set_aside_total") == *set_aside_before + 1);
    CheckReleasedOnce(l, product, order, 10);
    CHECK(Metric(*l.products, "shop_events_set_aside_total") == *set_aside_before + 1);
  }
}

TEST_CASE("every process stops cleanly on SIGTERM") {
  Layout& l = TheLayout();
  CHECK(l.gateway->Stop() == 0);
  CHECK(l.orders->Stop() == 0);
  CHECK(l.products->Stop() == 0);
  CHECK(l.users->Stop() == 0);
  CHECK(l.nats.Stop() != -1);
}
