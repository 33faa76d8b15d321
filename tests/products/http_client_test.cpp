// Split builds only: how the products HTTP client behaves when the service or the network fails.
// What it answers when all goes well is the contract suite's (contract_test.cpp, HttpFixture).

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "products_testing.h"
#include "remote_testing.h"
#include "scripted_service.h"
#include "shop/core/time.h"
#include "shop/products/remote.h"

namespace {

using namespace std::chrono_literals;
using shop::Principal;
using shop::products::Api;
using shop::products::MakeHttpClient;
using shop::products::NewProduct;
using shop::products::Product;
using shop::products::ProductPatch;
using shop::products::testing::Detail;
using shop::products::testing::kAdmin;
using shop::products::testing::Outcome;
using shop::products::testing::ProductsProcess;
using shop::products::testing::SignedServiceIdentity;
using shop::products::testing::UsersProcess;
using Clock = std::chrono::steady_clock;

/// This process as the orders service, the one products lets reserve and release.
SignedServiceIdentity& OrdersIdentity() {
  static SignedServiceIdentity identity;
  return identity;
}

/// A TCP relay in front of a service. It passes every request on, but swallows the answers on its
/// first `lossy_connections` connections: a network that loses a response after the request arrived.
class LossyRelay {
 public:
  LossyRelay(std::uint16_t upstream_port, int lossy_connections)
      : upstream_port_(upstream_port), lossy_connections_(lossy_connections) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(0);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener_, 16) == 0);
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~LossyRelay() {
    stop_ = true;
    acceptor_.join();
    for (std::thread& relay : relays_) relay.join();
    ::close(listener_);
  }

  LossyRelay(const LossyRelay&) = delete;
  LossyRelay& operator=(const LossyRelay&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  static sockaddr_in Loopback(std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return addr;
  }

  static bool SendAll(int fd, const char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }

  void AcceptLoop() {
    pollfd listening{listener_, POLLIN, 0};
    while (!stop_) {
      if (::poll(&listening, 1, 20) <= 0) continue;  // the timeout only lets the loop see stop_
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const bool lossy = ++connections_ <= lossy_connections_;
      relays_.emplace_back([this, client, lossy] { Relay(client, lossy); });
    }
  }

  void Relay(int client, bool lossy) {
    const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(upstream_port_);
    if (::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      char buffer[16384];
      bool open = true;
      while (open && !stop_) {
        if (::poll(fds, 2, 20) <= 0) continue;
        if (fds[0].revents != 0) {
          const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
          open = n > 0 && SendAll(upstream, buffer, static_cast<std::size_t>(n));
        }
        if (open && fds[1].revents != 0) {
          const ssize_t n = ::recv(upstream, buffer, sizeof buffer, 0);
          open = n > 0 && (lossy || SendAll(client, buffer, static_cast<std::size_t>(n)));
        }
      }
    }
    ::close(upstream);
    ::close(client);
  }

  std::uint16_t upstream_port_;
  int lossy_connections_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::vector<std::thread> relays_;  // grown only by the acceptor, joined after it
  std::thread acceptor_;
};

/// Polls `done` until it holds or `deadline` passes; true when it held.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds deadline = 10s) {
  const auto until = Clock::now() + deadline;
  while (!done()) {
    if (Clock::now() >= until) return false;
    ::poll(nullptr, 0, 20);  // polling a condition with a deadline
  }
  return true;
}

struct CallResult {
  std::string outcome;
  std::string detail;
  std::chrono::milliseconds took;
};

/// Every method of the API once, each timed.
std::vector<std::pair<std::string, CallResult>> CallEverything(Api& api, const Principal& admin, std::int64_t id) {
  const std::vector<std::pair<std::string, std::function<std::pair<std::string, std::string>()>>> calls = {
      {"GetProduct",
       [&] {
         auto r = api.GetProduct(id);
         return std::pair{Outcome(r), Detail(r)};
       }},
      {"ListProducts",
       [&] {
         auto r = api.ListProducts({});
         return std::pair{Outcome(r), Detail(r)};
       }},
      {"CreateProduct",
       [&] {
         auto r = api.CreateProduct(admin, NewProduct{"NEW", "New", 1, 1});
         return std::pair{Outcome(r), Detail(r)};
       }},
      {"UpdateProduct",
       [&] {
         auto r = api.UpdateProduct(admin, id, ProductPatch{std::nullopt, std::nullopt, 9});
         return std::pair{Outcome(r), Detail(r)};
       }},
      {"Reserve",
       [&] {
         auto r = api.Reserve("order-1", {{id, 1}});
         return std::pair{Outcome(r), Detail(r)};
       }},
      {"Release",
       [&] {
         auto r = api.Release("order-0");
         return std::pair{Outcome(r), Detail(r)};
       }},
  };
  std::vector<std::pair<std::string, CallResult>> results;
  for (const auto& [name, call] : calls) {
    const auto start = Clock::now();
    auto [outcome, detail] = call();
    results.push_back(
        {name, {outcome, detail, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)}});
  }
  return results;
}

}  // namespace

TEST_CASE("products http client: a stopped service fails every call fast, and a restarted one serves again") {
  ProductsProcess products;
  auto api = MakeHttpClient({.name = "products", .base_url = products.url()}, &OrdersIdentity());
  const Principal admin = UsersProcess::Shared().SignedIn(kAdmin);
  auto created = api->CreateProduct(admin, NewProduct{"KEEP", "Kept", 100, 10});
  REQUIRE_MESSAGE(created.has_value(), Detail(created));

  REQUIRE(products.process().Stop() == 0);

  // The first round finds the service gone (connections refused, retried) and opens the breaker;
  // from then on calls are refused without trying.
  bool refused_without_trying = false;
  for (int round = 0; round < 4; ++round) {
    for (const auto& [name, result] : CallEverything(*api, admin, created->id)) {
      CAPTURE(round);
      CAPTURE(name);
      CAPTURE(result.detail);
      CHECK(result.outcome == "dependency_unavailable");
      CHECK(result.detail.find("products service") != std::string::npos);
      if (round > 0) CHECK(result.took < 1000ms);
      if (result.detail.find("circuit open") != std::string::npos) refused_without_trying = true;
    }
  }
  CHECK(refused_without_trying);

  // Same port, same database; the same client finds it again once the breaker lets a call through.
  products.process().Start();
  REQUIRE(Eventually([&] { return api->GetProduct(created->id).has_value(); }));
  for (const auto& [name, result] : CallEverything(*api, admin, created->id)) {
    CAPTURE(name);
    CHECK_MESSAGE(result.outcome == "ok", result.detail);
  }
  CHECK(api->GetProduct(created->id)->stock == 8);  // set to 9 by UpdateProduct, 1 reserved
}

TEST_CASE("products http client: a reserve retried after its answer was lost takes the stock once") {
  ProductsProcess products;
  auto direct = MakeHttpClient({.name = "products", .base_url = products.url()}, &OrdersIdentity());
  const Principal admin = UsersProcess::Shared().SignedIn(kAdmin);
  auto a = direct->CreateProduct(admin, NewProduct{"A", "A", 250, 10});
  REQUIRE(a.has_value());

  LossyRelay relay(products.process().port(), 1);
  auto lossy =
      MakeHttpClient({.name = "products", .base_url = relay.url(), .request_timeout = 1000ms}, &OrdersIdentity());
  auto lines = lossy->Reserve("order-1", {{a->id, 4}});
  REQUIRE_MESSAGE(Outcome(lines) == "ok", Detail(lines));
  CHECK(relay.connections() >= 2);  // the first attempt reached the service; its answer never came back
  REQUIRE(lines->size() == 1);
  CHECK(lines->at(0).quantity == 4);
  CHECK(lines->at(0).unit_price_cents == 250);
  CHECK(direct->GetProduct(a->id)->stock == 6);

  // And once more, directly: still taken once.
  REQUIRE(Outcome(direct->Reserve("order-1", {{a->id, 4}})) == "ok");
  CHECK(direct->GetProduct(a->id)->stock == 6);
}

TEST_CASE("products http client: a create whose answer was lost is not repeated") {
  ProductsProcess products;
  auto direct = MakeHttpClient({.name = "products", .base_url = products.url()}, &OrdersIdentity());
  const Principal admin = UsersProcess::Shared().SignedIn(kAdmin);

  LossyRelay relay(products.process().port(), 1);
  auto lossy =
      MakeHttpClient({.name = "products", .base_url = relay.url(), .request_timeout = 1000ms}, &OrdersIdentity());
  auto created = lossy->CreateProduct(admin, NewProduct{"ONCE", "Once", 1, 1});
  CHECK(Outcome(created) == "dependency_unavailable");
  CHECK(Detail(created).find("products service") != std::string::npos);
  CHECK(relay.connections() == 1);

  // The request got through: the product exists, once.
  REQUIRE(Eventually([&] {
    auto page = direct->ListProducts({});
    return page && !page->items.empty();
  }));
  auto page = direct->ListProducts({});
  REQUIRE(page.has_value());
  CHECK(page->items.size() == 1);
  CHECK(page->items.at(0).sku == "ONCE");
}

TEST_CASE("products http client: a caller without a valid token is forbidden") {
  ProductsProcess products;
  auto api = MakeHttpClient({.name = "products", .base_url = products.url()}, &OrdersIdentity());
  const Principal admin = UsersProcess::Shared().SignedIn(kAdmin);
  auto a = api->CreateProduct(admin, NewProduct{"A", "A", 1, 1});
  REQUIRE(a.has_value());

  Principal forged = kAdmin;
  const std::int64_t now = shop::UnixNow();
  forged.credential = shop::auth::SigningKey::Generate().Sign(shop::auth::Claims{kAdmin, now - 5, now + 600});
  Principal garbage = kAdmin;
  garbage.credential = "not-a-token";
  for (const Principal& caller : {kAdmin, forged, garbage}) {
    CAPTURE(caller.credential);
    CHECK(Outcome(api->CreateProduct(caller, NewProduct{"B", "B", 1, 1})) == "forbidden");
    CHECK(Outcome(api->UpdateProduct(caller, a->id, ProductPatch{std::nullopt, std::nullopt, 5})) == "forbidden");
  }
  CHECK(api->GetProduct(a->id)->stock == 1);
  CHECK(api->ListProducts({})->items.size() == 1);
}

/// A token source whose first token the callee refuses (signed by a key users never published).
class StaleThenFreshIdentity final : public shop::auth::ServiceTokenProvider {
 public:
  std::expected<std::string, std::string> Token() override {
    if (refused_ == 0) {
      const std::int64_t now = shop::UnixNow();
      return stale_key_.SignService({"orders", now, now + 300});
    }
    return UsersProcess::Shared().ServiceToken("orders");
  }
  void Refused(std::string_view) override { ++refused_; }
  int refused() const { return refused_; }

 private:
  shop::auth::SigningKey stale_key_ = shop::auth::SigningKey::Generate();
  std::atomic<int> refused_{0};
};

/// A token source that has none: users cannot be reached.
class NoIdentity final : public shop::auth::ServiceTokenProvider {
 public:
  std::expected<std::string, std::string> Token() override {
    return std::unexpected("users service could not be reached");
  }
  void Refused(std::string_view) override {}
};

TEST_CASE("products http client: reservations carry the service's identity, without one or refused nothing changes") {
  ProductsProcess products;
  auto direct = MakeHttpClient({.name = "products", .base_url = products.url()}, &OrdersIdentity());
  const Principal admin = UsersProcess::Shared().SignedIn(kAdmin);
  auto a = direct->CreateProduct(admin, NewProduct{"ID", "Id", 100, 10});
  REQUIRE(a.has_value());

  SignedServiceIdentity payments("payments");  // a service products does not let reserve
  NoIdentity none;
  auto anonymous = MakeHttpClient({.name = "products", .base_url = products.url()});
  auto not_allowed = MakeHttpClient({.name = "products", .base_url = products.url()}, &payments);
  auto without_token = MakeHttpClient({.name = "products", .base_url = products.url()}, &none);
  for (Api* api : {anonymous.get(), not_allowed.get(), without_token.get()}) {
    auto reserved = api->Reserve("order-x", {{a->id, 3}});
    CHECK(Outcome(reserved) == "dependency_unavailable");
    CHECK(Detail(reserved).find("products service") != std::string::npos);
    CHECK(Outcome(api->Release("order-y")) == "dependency_unavailable");
  }
  CHECK(Detail(not_allowed->Reserve("order-x", {{a->id, 3}})).find("HTTP 403") != std::string::npos);
  CHECK(payments.refusals() == 0);  // 403 is not fixed by a new token
  CHECK(direct->GetProduct(a->id)->stock == 10);

  // A token refused with 401 is dropped and the call made once more with a fresh one.
  StaleThenFreshIdentity stale;
  auto renewing = MakeHttpClient({.name = "products", .base_url = products.url()}, &stale);
  auto reserved = renewing->Reserve("order-1", {{a->id, 3}});
  REQUIRE_MESSAGE(Outcome(reserved) == "ok", Detail(reserved));
  CHECK(stale.refused() == 1);
  CHECK(direct->GetProduct(a->id)->stock == 7);
}

/// A service identity whose token nobody checks: for a scripted products service.
class UncheckedIdentity final : public shop::auth::ServiceTokenProvider {
 public:
  std::expected<std::string, std::string> Token() override { return "service.token.orders"; }
  void Refused(std::string_view) override {}
};

TEST_CASE("products http client: answers from a newer products service with fields it does not know are read") {
  shop::testing::ScriptedService products;
  UncheckedIdentity identity;
  auto api = MakeHttpClient({.name = "products", .base_url = products.url()}, &identity);
  Principal admin = kAdmin;
  admin.credential = "header.payload.signature";
  const std::string product =
      R"({"id":7,"sku":"MUG-1","name":"Mug","price_cents":1200,"stock":10,"created_at":"2026-11-21T10:00:00Z",)"
      R"("currency":"EUR","dimensions":{"height_mm":95},"tags":["kitchen"]})";

  products.Answer(200, product);
  auto got = api->GetProduct(7);
  REQUIRE_MESSAGE(got.has_value(), Detail(got));
  CHECK(got->id == 7);
  CHECK(got->sku == "MUG-1");
  CHECK(got->price_cents == 1200);
  CHECK(got->stock == 10);

  products.Answer(200, R"({"items":[)" + product + R"(],"next_after":null,"total_count":1})");
  auto page = api->ListProducts({});
  REQUIRE_MESSAGE(page.has_value(), Detail(page));
  REQUIRE(page->items.size() == 1);
  CHECK(page->items[0].name == "Mug");
  CHECK_FALSE(page->next_after.has_value());

  products.Answer(201, product);
  auto created = api->CreateProduct(admin, NewProduct{"MUG-1", "Mug", 1200, 10});
  REQUIRE_MESSAGE(created.has_value(), Detail(created));
  CHECK(created->created_at == "2026-11-21T10:00:00Z");

  products.Answer(200, R"({"lines":[{"product_id":7,"quantity":2,"unit_price_cents":1200,"tax_cents":200}],)"
                       R"("reserved_at":"2026-11-21T10:00:00Z"})");
  auto reserved = api->Reserve("order-1", {{7, 2}});
  REQUIRE_MESSAGE(reserved.has_value(), Detail(reserved));
  REQUIRE(reserved->size() == 1);
  CHECK(reserved->at(0).unit_price_cents == 1200);

  products.Answer(200, R"({"order_ref":"order-1","released":true,"released_units":2})");
  auto released = api->Release("order-1");
  CHECK_MESSAGE(released.has_value(), Detail(released));

  // A problem with extensions is still the module's error.
  products.Answer(409,
                  R"({"type":"about:blank","title":"Conflict","status":409,"detail":"MUG-1 is taken",)"
                  R"("code":"sku_taken","existing_id":7})",
                  "application/problem+json");
  auto taken = api->CreateProduct(admin, NewProduct{"MUG-1", "Mug", 1200, 10});
  CHECK(Outcome(taken) == "sku_taken");
  CHECK(Detail(taken) == "MUG-1 is taken");
}
