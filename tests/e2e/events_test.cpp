// PLATFORM.md "Events", seen as an outside consumer sees them: a plain core NATS subscription on
// `shop.>` at the NATS server the layout publishes to (both layouts publish to JetStream stream
// SHOP_EVENTS; a core subscriber on the subject gets every message published there). Changes are
// made through the public API; each must be announced by exactly one event of its catalogue type,
// in the CloudEvents envelope, with the catalogue's fields holding exactly the values of the change
// (fields added beside them are allowed: consumers ignore what they do not know). The first admin,
// made at start-up before anything here subscribed, is looked for in the stream itself.
// Needs the NATS URL (TestServer::nats_url(): the harness's own nats-server, or SHOP_E2E_NATS_URL);
// skipped without one. Other tests publish too: only events carrying the ids made here are judged.
#include <doctest/doctest.h>
#include <nats/nats.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "api_client.h"
#include "server_harness.h"

namespace shop::e2e {
namespace {

using boost::json::array;
using boost::json::object;
using boost::json::value;
using SysClock = std::chrono::system_clock;

constexpr std::string_view kUserRegistered = "shop.users.user_registered.v1";
constexpr std::string_view kProductCreated = "shop.products.product_created.v1";
constexpr std::string_view kProductUpdated = "shop.products.product_updated.v1";
constexpr std::string_view kStockChanged = "shop.products.stock_changed.v1";
constexpr std::string_view kOrderPlaced = "shop.orders.order_placed.v1";
constexpr std::string_view kOrderCancelled = "shop.orders.order_cancelled.v1";

/// How long an event may take from the API's answer to the subscriber (a relay wakes on commit).
constexpr std::chrono::seconds kEventWithin{5};

/// One NATS message as received.
struct Message {
  std::string subject;
  std::string body;
};

/// A core NATS subscription on `shop.>`, collecting every message for the test thread to wait on.
class EventTap {
 public:
  explicit EventTap(const std::string& url) {
    natsStatus s = natsConnection_ConnectTo(&conn_, url.c_str());
    if (s != NATS_OK) throw std::runtime_error("cannot connect to NATS at " + url + ": " + natsStatus_GetText(s));
    s = natsConnection_Subscribe(&sub_, conn_, "shop.>", &EventTap::OnMessage, this);
    // The server has registered the interest once a flush returns: no change made after this is missed.
    if (s == NATS_OK) s = natsConnection_FlushTimeout(conn_, 5000);
    if (s != NATS_OK) {
      Close();
      throw std::runtime_error("cannot subscribe to shop.> at " + url + ": " + natsStatus_GetText(s));
    }
  }
  ~EventTap() { Close(); }
  EventTap(const EventTap&) = delete;
  EventTap& operator=(const EventTap&) = delete;

  /// Calls `done(messages so far)` on every arrival until it returns true or `within` passes;
  /// returns its last answer.
  template <class Pred>
  bool WaitUntil(Pred done, std::chrono::milliseconds within) {
    std::unique_lock lock(mu_);
    return arrived_.wait_for(lock, within, [&] { return done(messages_); });
  }

 private:
  static void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<EventTap*>(closure);
    Message m{natsMsg_GetSubject(msg),
              std::string(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)))};
    natsMsg_Destroy(msg);
    {
      std::lock_guard lock(self->mu_);
      self->messages_.push_back(std::move(m));
    }
    self->arrived_.notify_all();
  }

  void Close() {
    if (sub_ != nullptr) {
      // Drained, no callback runs after this returns: the callback uses *this.
      if (natsSubscription_Drain(sub_) == NATS_OK) natsSubscription_WaitForDrainCompletion(sub_, 5000);
      natsSubscription_Destroy(sub_);
      sub_ = nullptr;
    }
    if (conn_ != nullptr) {
      natsConnection_Destroy(conn_);
      conn_ = nullptr;
    }
  }

  natsConnection* conn_ = nullptr;
  natsSubscription* sub_ = nullptr;
  std::mutex mu_;
  std::condition_variable arrived_;
  std::vector<Message> messages_;
};

/// What stream SHOP_EVENTS holds under one subject, from its first message on (an ordered JetStream
/// consumer: ephemeral, nothing acknowledged or kept on the server): the view of a consumer that joins
/// late. The stream deduplicates publishes by event id (Nats-Msg-Id, within its window).
class StreamReplay {
 public:
  StreamReplay(const std::string& url, const std::string& subject) {
    natsStatus s = natsConnection_ConnectTo(&conn_, url.c_str());
    if (s == NATS_OK) s = natsConnection_JetStream(&js_, conn_, nullptr);
    if (s != NATS_OK) {
      Close();
      throw std::runtime_error("cannot use JetStream at " + url + ": " + natsStatus_GetText(s));
    }
    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = "SHOP_EVENTS";
    options.Ordered = true;
    options.Config.DeliverPolicy = js_DeliverAll;
    // The stream is made by the first event shop publishes: it may not be there the moment shop is ready.
    Eventually([&] { return js_SubscribeSync(&sub_, js_, subject.c_str(), nullptr, &options, nullptr) == NATS_OK; },
               kEventWithin);
    if (sub_ == nullptr) {
      Close();
      throw std::runtime_error("cannot read stream SHOP_EVENTS (" + subject + ") at " + url);
    }
  }
  ~StreamReplay() { Close(); }
  StreamReplay(const StreamReplay&) = delete;
  StreamReplay& operator=(const StreamReplay&) = delete;

  /// The next stored message, and whether it was the last one stored when it was sent; nullopt when
  /// none comes within `within`.
  std::optional<std::pair<Message, bool>> Next(std::chrono::milliseconds within) {
    natsMsg* msg = nullptr;
    if (natsSubscription_NextMsg(&msg, sub_, static_cast<std::int64_t>(within.count())) != NATS_OK) return std::nullopt;
    Message m{natsMsg_GetSubject(msg),
              std::string(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)))};
    jsMsgMetaData* meta = nullptr;
    bool last = false;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      last = meta->NumPending == 0;
      jsMsgMetaData_Destroy(meta);
    }
    natsMsg_Destroy(msg);
    return std::pair{std::move(m), last};
  }

 private:
  void Close() {
    if (sub_ != nullptr) natsSubscription_Destroy(sub_);
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (conn_ != nullptr) natsConnection_Destroy(conn_);
    sub_ = nullptr;
    js_ = nullptr;
    conn_ = nullptr;
  }

  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
  natsSubscription* sub_ = nullptr;
};

/// Reads `text` as RFC 3339 (`2026-11-21T10:00:00Z`, fractional seconds and a numeric offset
/// allowed); nullopt when it is not.
std::optional<SysClock::time_point> ParseRfc3339(std::string_view text) {
  auto number = [&](std::size_t at, std::size_t digits) -> std::optional<int> {
    if (at + digits > text.size()) return std::nullopt;
    int n = 0;
    for (std::size_t i = at; i < at + digits; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      n = n * 10 + (text[i] - '0');
    }
    return n;
  };
  auto at = [&](std::size_t i, std::string_view chars) {
    return i < text.size() && chars.find(text[i]) != std::string_view::npos;
  };
  const auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || !at(4, "-") || !at(7, "-") || !at(10, "Tt") ||
      !at(13, ":") || !at(16, ":")) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(*year), std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;  // 60: a leap second
  std::size_t i = 19;
  std::chrono::nanoseconds fraction{0};
  if (at(i, ".")) {
    std::int64_t scale = 100'000'000;
    const std::size_t first = ++i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, scale /= 10) {
      fraction += std::chrono::nanoseconds((text[i] - '0') * scale);
    }
    if (i == first) return std::nullopt;
  }
  std::chrono::minutes offset{0};
  if (at(i, "Zz")) {
    ++i;
  } else if (at(i, "+-")) {
    const auto oh = number(i + 1, 2), om = number(i + 4, 2);
    if (!oh || !om || !at(i + 3, ":") || *oh > 23 || *om > 59) return std::nullopt;
    offset = std::chrono::hours(*oh) + std::chrono::minutes(*om);
    if (text[i] == '-') offset = -offset;
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  const auto local = std::chrono::sys_days(date) + std::chrono::hours(*hour) + std::chrono::minutes(*minute) +
                     std::chrono::seconds(*second) + fraction;
  return std::chrono::time_point_cast<SysClock::duration>(local - offset);
}

/// A message on `shop.>` read as CloudEvents JSON; `envelope` is null when the body is not a JSON object.
struct Received {
  Message message;
  value envelope;
  const object* data() const {
    if (!envelope.is_object()) return nullptr;
    const value* d = envelope.as_object().if_contains("data");
    return d != nullptr && d->is_object() ? &d->as_object() : nullptr;
  }
  /// A string attribute of the envelope; empty when absent or not a string.
  std::string Attribute(std::string_view key) const {
    const value* v = envelope.is_object() ? envelope.as_object().if_contains(key) : nullptr;
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  }
  std::string id() const { return Attribute("id"); }
  std::string type() const { return Attribute("type"); }
};

/// The envelope (CloudEvents 1.0, JSON structured mode): PLATFORM.md "Events".
void CheckEnvelope(const Received& r) {
  INFO("event: ", r.message.body);
  REQUIRE(r.envelope.is_object());
  const object& env = r.envelope.as_object();
  CHECK(Str(env, "specversion") == "1.0");
  CHECK_FALSE(Str(env, "id").empty());
  const std::string type = Str(env, "type");
  CHECK(type == r.message.subject);
  // shop.<service>.<name>.v1 comes from /shop/<service>.
  const std::string service = type.starts_with("shop.") ? type.substr(5, type.find('.', 5) - 5) : type;
  CHECK(Str(env, "source") == "/shop/" + service);
  CHECK_MESSAGE(ParseRfc3339(Str(env, "time")).has_value(), "time is not RFC 3339");
  CHECK(Str(env, "datacontenttype") == "application/json");
}

/// One event a change must have published: its type and the data the catalogue lists.
struct Expected {
  std::string change;  ///< what was done, for the failure messages
  std::string type;
  object data;
};

bool Matches(const Received& r, const Expected& e) {
  const object* data = r.data();
  if (data == nullptr || r.type() != e.type) return false;
  // Every field of the catalogue, with exactly this value (of this JSON type); fields added later
  // are allowed (PLATFORM.md: consumers ignore fields they do not know).
  for (const auto& [key, want] : e.data) {
    const value* got = data->if_contains(key);
    if (got == nullptr || *got != want) return false;
  }
  return true;
}

std::string Describe(const Expected& e) { return e.change + ": " + e.type + " " + Dump(e.data); }

/// The events expected from the changes made so far, and the checks on what arrived.
class EventLedger {
 public:
  explicit EventLedger(EventTap& tap) : tap_(tap) {}

  /// Events carrying these ids are the test's own (users and orders events name the user,
  /// products events the product); everything else on `shop.>` is another test's.
  void OwnUser(std::int64_t id) { users_.insert(id); }
  void OwnProduct(std::int64_t id) { products_.insert(id); }

  void Expect(std::string change, std::string_view type, object data) {
    expected_.push_back({std::move(change), std::string(type), std::move(data)});
  }

  /// Waits until every event expected since the last call has arrived (as many of each as were
  /// expected so far: two changes may announce the same data); fails for those that did not.
  void AwaitStep() {
    std::vector<const Expected*> missing;
    tap_.WaitUntil(
        [&](const std::vector<Message>& messages) {
          Decode(messages);
          missing.clear();
          for (std::size_t i = step_begin_; i < expected_.size(); ++i) {
            if (DistinctArrived(expected_[i]) < ExpectedCount(expected_[i])) missing.push_back(&expected_[i]);
          }
          return missing.empty();
        },
        kEventWithin);
    for (const Expected* e : missing) {
      FAIL_CHECK("not published within ", kEventWithin.count(), " s: ", Describe(*e), "\nown events so far:\n",
                 OwnEvents());
    }
    step_begin_ = expected_.size();
  }

  /// After the last step: exactly one event per change, nothing else about the test's ids, no
  /// message twice, and every envelope as PLATFORM.md says.
  void CheckAll(SysClock::time_point started) {
    tap_.WaitUntil(
        [&](const std::vector<Message>& messages) {
          Decode(messages);
          return true;
        },
        std::chrono::milliseconds(0));
    INFO("own events:\n", OwnEvents());

    // Exactly one event per change, counted by type and data. Distinct ids: a second message with
    // the same id is a redelivery, judged below.
    std::set<std::string> seen_groups;
    for (const Expected& e : expected_) {
      if (!seen_groups.insert(e.type + Dump(e.data)).second) continue;
      CHECK_MESSAGE(DistinctArrived(e) == ExpectedCount(e), Describe(e), ": expected ", ExpectedCount(e),
                    " event(s), got ", DistinctArrived(e));
    }
    for (const Received* r : Own()) {
      bool expected = false;
      for (const Expected& e : expected_) expected = expected || Matches(*r, e);
      CHECK_MESSAGE(expected, "an event no change of this test should have published: ", r->message.body);
    }

    // The same CloudEvents id twice. The relay publishes each event once and again only after a
    // failed or lost JetStream ack (at least once delivery); JetStream then keeps one copy (the id is
    // the Nats-Msg-Id, deduplicated by the stream), but a core subscriber like this one still gets
    // every publish. With a healthy local NATS no publish fails, so a duplicate here means an event
    // was published twice without cause.
    std::map<std::string, int> by_id;
    for (const Received* r : Own()) ++by_id[r->id()];
    for (const auto& [id, n] : by_id) CHECK_MESSAGE(n == 1, "event id ", id, " received ", n, " times");

    for (const Received* r : Own()) {
      CheckEnvelope(*r);
      // Made during this test (one machine's clock; a minute of slack).
      if (std::optional<SysClock::time_point> time = ParseRfc3339(r->Attribute("time"))) {
        INFO("event: ", r->message.body);
        CHECK(*time >= started - std::chrono::minutes(1));
        CHECK(*time <= SysClock::now() + std::chrono::minutes(1));
      }
    }
    CHECK_MESSAGE(malformed_.empty(),
                  "messages on shop.> that are not CloudEvents JSON objects with an object `data`:\n", malformed_);
  }

 private:
  void Decode(const std::vector<Message>& messages) {
    for (; decoded_ < messages.size(); ++decoded_) {
      Received r{messages[decoded_], nullptr};
      boost::system::error_code ec;
      r.envelope = boost::json::parse(r.message.body, ec);
      if (ec || r.data() == nullptr) {
        malformed_ += r.message.subject + " " + r.message.body.substr(0, 300) + "\n";
        r.envelope = nullptr;
      }
      received_.push_back(std::move(r));
    }
  }

  bool IsOwn(const Received& r) const {
    const object* data = r.data();
    if (data == nullptr) return false;
    auto id_in = [&](std::string_view key, const std::set<std::int64_t>& ids) {
      const value* v = data->if_contains(key);
      return v != nullptr && v->is_int64() && ids.contains(v->as_int64());
    };
    return id_in("user_id", users_) || id_in("product_id", products_);
  }

  std::vector<const Received*> Own() const {
    std::vector<const Received*> own;
    for (const Received& r : received_) {
      if (IsOwn(r)) own.push_back(&r);
    }
    return own;
  }

  std::string OwnEvents() const {
    std::string out;
    for (const Received* r : Own()) out += "  " + r->message.body + "\n";
    return out.empty() ? "  (none)\n" : out;
  }

  /// Changes so far expected to announce exactly `e`'s type and data.
  int ExpectedCount(const Expected& e) const {
    int n = 0;
    for (const Expected& other : expected_) n += other.type == e.type && other.data == e.data ? 1 : 0;
    return n;
  }
  /// Own events matching `e`, by distinct id (a redelivered id counted once).
  int DistinctArrived(const Expected& e) const {
    std::set<std::string> ids;
    for (const Received* r : Own()) {
      if (Matches(*r, e)) ids.insert(r->id());
    }
    return static_cast<int>(ids.size());
  }

  EventTap& tap_;
  std::set<std::int64_t> users_;
  std::set<std::int64_t> products_;
  std::vector<Expected> expected_;
  std::size_t step_begin_ = 0;
  std::size_t decoded_ = 0;
  std::vector<Received> received_;
  std::string malformed_;
};

object Line(std::int64_t product_id, std::int64_t quantity, std::int64_t unit_price_cents) {
  return object{{"product_id", product_id}, {"quantity", quantity}, {"unit_price_cents", unit_price_cents}};
}

}  // namespace

TEST_SUITE("events") {
  TEST_CASE("every catalogue event is published once per change, in the CloudEvents envelope, with its data") {
    const std::string nats_url = TestServer::Get().nats_url();
    if (nats_url.empty()) {
      MESSAGE(
          "skipped: no NATS server is known to watch the events on (set SHOP_E2E_NATS_URL, or install "
          "nats-server for the harness to start one)");
      return;
    }
    EventTap tap(nats_url);
    EventLedger ledger(tap);
    Api api;
    const SysClock::time_point started = SysClock::now();

    // A registration: user_registered, role customer.
    const std::string email = Unique("events") + "@e2e.test";
    HttpResponse registered =
        api.Post("/users", object{{"email", email}, {"password", "events-password-1"}, {"name", "Events"}});
    REQUIRE(registered.status == 201);
    const std::int64_t user_id = Int(registered.Json(), "id");
    const std::string token = Login(api, email, "events-password-1");
    ledger.OwnUser(user_id);
    ledger.Expect(
        "registration", kUserRegistered,
        object{{"user_id", user_id}, {"role", "customer"}, {"created_at", Str(registered.Json(), "created_at")}});
    ledger.AwaitStep();

    // Two products: product_created each (and no stock_changed: creating is not a stock change).
    const object a = CreateProduct(api, 1234, 10, "events-a");
    const object b = CreateProduct(api, 500, 5, "events-b");
    const std::int64_t a_id = Int(a, "id");
    const std::int64_t b_id = Int(b, "id");
    ledger.OwnProduct(a_id);
    ledger.OwnProduct(b_id);
    for (const object* p : {&a, &b}) {
      ledger.Expect("create product", kProductCreated,
                    object{{"product_id", Int(*p, "id")},
                           {"sku", Str(*p, "sku")},
                           {"name", Str(*p, "name")},
                           {"price_cents", Int(*p, "price_cents")},
                           {"stock", Int(*p, "stock")}});
    }
    ledger.AwaitStep();

    const std::string a_path = "/products/" + std::to_string(a_id);
    const std::string renamed = "Events renamed " + RunId();
    auto patch = [&](const object& body) {
      HttpResponse r = api.Patch(a_path, body, Admin().token);
      INFO("PATCH ", Dump(body), ": ", r.status, " ", r.body);
      REQUIRE(r.status == 200);
    };
    auto updated = [&](std::int64_t stock) {
      return object{{"product_id", a_id}, {"name", renamed}, {"price_cents", 1234}, {"stock", stock}};
    };

    // PATCH name only: product_updated, no stock_changed.
    patch(object{{"name", renamed}});
    ledger.Expect("PATCH name", kProductUpdated, updated(10));
    ledger.AwaitStep();

    // PATCH stock: product_updated and stock_changed with order_id null.
    patch(object{{"stock", 20}});
    ledger.Expect("PATCH stock 10 -> 20", kProductUpdated, updated(20));
    ledger.Expect("PATCH stock 10 -> 20", kStockChanged,
                  object{{"product_id", a_id}, {"stock", 20}, {"order_id", nullptr}});
    ledger.AwaitStep();

    // PATCH stock to the value it has: product_updated only.
    patch(object{{"stock", 20}});
    ledger.Expect("PATCH stock 20 -> 20", kProductUpdated, updated(20));
    ledger.AwaitStep();

    // An order of two lines: order_placed, and stock_changed for each line with the order's id.
    const object order = PlaceOrder(api, token, {{a_id, 3}, {b_id, 2}});
    const std::int64_t order_id = Int(order, "id");
    const array items{Line(a_id, 3, 1234), Line(b_id, 2, 500)};
    ledger.Expect(
        "place order", kOrderPlaced,
        object{{"order_id", order_id}, {"user_id", user_id}, {"items", items}, {"total_cents", 3 * 1234 + 2 * 500}});
    ledger.Expect("place order", kStockChanged, object{{"product_id", a_id}, {"stock", 17}, {"order_id", order_id}});
    ledger.Expect("place order", kStockChanged, object{{"product_id", b_id}, {"stock", 3}, {"order_id", order_id}});
    ledger.AwaitStep();

    // Cancelling it: order_cancelled, then (products consumes it) each line's stock back, with the order's id.
    const std::string cancel_path = "/orders/" + std::to_string(order_id) + "/cancel";
    HttpResponse cancelled = api.Send("POST", cancel_path, WithAuth(token));
    REQUIRE(cancelled.status == 200);
    ledger.Expect("cancel", kOrderCancelled, object{{"order_id", order_id}, {"user_id", user_id}, {"items", items}});
    ledger.Expect("cancel", kStockChanged, object{{"product_id", a_id}, {"stock", 20}, {"order_id", order_id}});
    ledger.Expect("cancel", kStockChanged, object{{"product_id", b_id}, {"stock", 5}, {"order_id", order_id}});
    ledger.AwaitStep();

    // Cancelling again changes nothing and announces nothing.
    HttpResponse again = api.Send("POST", cancel_path, WithAuth(token));
    REQUIRE(again.status == 200);

    // Refused for want of stock on one line (the other line has enough): no event at all.
    CheckProblem(api.Post("/orders", OrderBody({{a_id, 1}, {b_id, 6}}), token), 409, "insufficient_stock");

    // A last order, as a barrier: each module's relay publishes its outbox in order, so once this
    // order's order_placed (orders) and stock_changed (products) are here, so is anything the second
    // cancel or the refused order wrote to either outbox before it.
    const std::int64_t last_id = Int(PlaceOrder(api, token, {{b_id, 1}}), "id");
    ledger.Expect(
        "last order", kOrderPlaced,
        object{
            {"order_id", last_id}, {"user_id", user_id}, {"items", array{Line(b_id, 1, 500)}}, {"total_cents", 500}});
    ledger.Expect("last order", kStockChanged, object{{"product_id", b_id}, {"stock", 4}, {"order_id", last_id}});
    ledger.AwaitStep();

    ledger.CheckAll(started);
  }

  TEST_CASE("the first admin, made at start-up, is announced too: user_registered with role admin, once") {
    TestServer& server = TestServer::Get();
    if (server.nats_url().empty() || !server.managed()) {
      MESSAGE("skipped: needs the harness's own shop and NATS (both fresh when the first admin was made)");
      return;
    }
    Api api;
    HttpResponse me = api.Get("/users/me", Admin().token);
    REQUIRE(me.status == 200);
    REQUIRE(Str(me.Json(), "role") == "admin");
    const std::int64_t admin_id = Int(me.Json(), "id");

    // It was published before this suite subscribed to anything: the stream is where it can be seen.
    StreamReplay replay(server.nats_url(), std::string(kUserRegistered));
    std::vector<Received> admin_events;
    bool at_end = false;
    const auto deadline = std::chrono::steady_clock::now() + kEventWithin;
    while (!(at_end && !admin_events.empty())) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0)) break;
      std::optional<std::pair<Message, bool>> next = replay.Next(left);
      if (!next) break;
      at_end = next->second;
      Received r{std::move(next->first), nullptr};
      boost::system::error_code ec;
      r.envelope = boost::json::parse(r.message.body, ec);
      INFO("stored: ", r.message.body);
      REQUIRE(r.data() != nullptr);
      const value* user = r.data()->if_contains("user_id");
      if (user != nullptr && *user == value(admin_id)) admin_events.push_back(std::move(r));
    }
    REQUIRE_MESSAGE(admin_events.size() == 1, "user_registered events of the first admin (id ", admin_id,
                    ") in SHOP_EVENTS: ", admin_events.size());
    const Received& e = admin_events.front();
    CheckEnvelope(e);
    const Expected expected{
        "start-up", std::string(kUserRegistered),
        object{{"user_id", admin_id}, {"role", "admin"}, {"created_at", Str(me.Json(), "created_at")}}};
    CHECK_MESSAGE(Matches(e, expected), Describe(expected), "\ngot: ", e.message.body);
  }
}

}  // namespace shop::e2e
