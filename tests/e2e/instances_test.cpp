// Two `shop` processes on one set of databases, as replicas behind a load balancer would run: the
// harness's server (instance A) and a second process (instance B) on the same data directory (its
// signing key, so each accepts the other's tokens) and the same databases: the SQLite files there,
// or, under tests/postgres/with_postgres.sh, the PostgreSQL databases named by SHOP_*_DATABASE_URL
// (e2e_instances_on_postgres). What one instance writes, the other must answer within kVisible
// (products are cached in each process: a write invalidates the others' entries through shared
// change counters on SQLite, pg_notify on PostgreSQL), and concurrent orders through both never
// sell more than the stock (the conditional stock UPDATE, under the row's lock).
#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api_client.h"
#include "server_harness.h"

namespace shop::e2e {
namespace {

using namespace std::chrono_literals;

/// How long a write through one instance may take to be seen through the other.
constexpr auto kVisible = 2000ms;

bool OnPostgres() { return std::getenv("SHOP_PRODUCTS_DATABASE_URL") != nullptr; }

/// Instance B, started once, after A (the harness's): A made the data directory's files first.
ShopProcess& SecondInstance() {
  static std::unique_ptr<testing::TempDir> logs;
  static std::unique_ptr<ShopProcess> b;
  if (!b) {
    TestServer& a = TestServer::Get();
    REQUIRE_MESSAGE(a.managed(), "e2e_instances starts its own processes: unset SHOP_E2E_BASE_URL");
    logs = std::make_unique<testing::TempDir>();
    ShopProcess::Options options;
    options.binary = a.binary();
    options.data_dir = a.process().data_dir();
    options.log_dir = logs->path();
    options.env = {{"SHOP_ADMIN_EMAIL", a.admin_email()},
                   {"SHOP_ADMIN_PASSWORD", a.admin_password()},
                   {"SHOP_NATS_URL", a.nats_url().empty() ? "off" : a.nats_url()}};
    b = std::make_unique<ShopProcess>(std::move(options));
    b->Start();
    MESSAGE("instance A on port ", a.endpoint().port, ", instance B on port ", b->endpoint().port, ", ",
            std::string(OnPostgres() ? "PostgreSQL" : "SQLite in one data directory"));
  }
  return *b;
}

/// GET /products/{id} through `api`: 200, the product.
boost::json::object ProductVia(Api& api, std::int64_t id) {
  HttpResponse r = api.Get("/products/" + std::to_string(id));
  REQUIRE(r.status == 200);
  return r.Json().as_object();
}

/// Polls `read` through `api` until it returns `expected` or kVisible passes; returns the last value read.
template <class Read>
std::int64_t SeenWithin(Read read, std::int64_t expected) {
  std::int64_t last = 0;
  Eventually([&] { return (last = read()) == expected; }, kVisible, 20ms);
  return last;
}

void PatchProduct(Api& api, std::int64_t product, boost::json::object body) {
  HttpResponse r = api.Patch("/products/" + std::to_string(product), body, Admin().token);
  REQUIRE(r.status == 200);
}

}  // namespace

TEST_SUITE("two instances") {
  TEST_CASE("both answer for one set of data: a user made through one signs in through the other") {
    Api a;
    Api b(SecondInstance().endpoint());
    User u = RegisterUser(a, "twin");
    const std::string token = Login(b, u.email, u.password);
    HttpResponse me = a.Get("/users/me", token);  // B's token, accepted by A
    REQUIRE(me.status == 200);
    CHECK(Int(me.Json(), "id") == u.id);
  }

  TEST_CASE("concurrent orders through both instances never sell more than the stock") {
    // Rounds of a fresh product with little stock, every buyer ordering it at once: each round ends at
    // the boundary, where two orders racing for the last units is what must not sell one twice.
    constexpr int kRounds = 8;
    constexpr std::int64_t kStock = 5;
    constexpr int kBuyers = 8;  // half through each instance, 1 or 2 units each: 12 wanted per round
    Api admin_api;
    const Endpoint endpoints[2] = {TestServer::Get().endpoint(), SecondInstance().endpoint()};
    std::vector<User> buyers;
    for (int i = 0; i < kBuyers; ++i) buyers.push_back(RegisterUser(admin_api, "twin-buyer"));
    std::vector<std::int64_t> products;
    for (int r = 0; r < kRounds; ++r)
      products.push_back(Int(CreateProduct(admin_api, 300, kStock, "twin-stock"), "id"));

    struct Placed {
      std::int64_t order_id;
      std::int64_t quantity;
    };
    struct Tally {
      // Per round, the orders answered 201.
      std::vector<std::vector<Placed>> placed = std::vector<std::vector<Placed>>(kRounds);
      int refused = 0;  // 409 insufficient_stock
      std::vector<std::string> unexpected;
    };
    std::vector<Tally> tallies(kBuyers);
    std::barrier round_start(kBuyers);
    std::vector<std::thread> threads;
    for (int i = 0; i < kBuyers; ++i) {
      threads.emplace_back([&, i] {
        Tally& t = tallies[static_cast<std::size_t>(i)];
        Api api(endpoints[i % 2]);
        for (int r = 0; r < kRounds; ++r) {
          round_start.arrive_and_wait();
          try {
            const std::int64_t quantity = 1 + (i + r) % 2;
            HttpResponse resp = api.Post("/orders", OrderBody({{products[static_cast<std::size_t>(r)], quantity}}),
                                         buyers[static_cast<std::size_t>(i)].token);
            if (resp.status == 201) {
              t.placed[static_cast<std::size_t>(r)].push_back({resp.Json().at("id").as_int64(), quantity});
            } else if (resp.status == 409 && resp.Json().at("code").as_string() == "insufficient_stock") {
              ++t.refused;
            } else {
              t.unexpected.push_back("round " + std::to_string(r) + ": " + std::to_string(resp.status) + " " +
                                     resp.body.substr(0, 300));
            }
          } catch (const std::exception& e) {
            t.unexpected.push_back("round " + std::to_string(r) + ": exception: " + e.what());
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();

    int placed[2] = {0, 0}, refused = 0;
    for (int i = 0; i < kBuyers; ++i) {
      const Tally& t = tallies[static_cast<std::size_t>(i)];
      for (const std::string& u : t.unexpected) FAIL_CHECK("buyer ", i, ": ", u);
      for (const auto& round : t.placed) placed[i % 2] += static_cast<int>(round.size());
      refused += t.refused;
    }
    MESSAGE(kRounds, " rounds of ", kBuyers, " buyers for ", kStock, " units: ", placed[0],
            " orders placed through A, ", placed[1], " through B, ", refused, " refused");
    CHECK(refused > 0);  // twice the stock was wanted in every round

    Api a(endpoints[0]);
    Api b(endpoints[1]);
    for (int r = 0; r < kRounds; ++r) {
      CAPTURE(r);
      const std::int64_t product = products[static_cast<std::size_t>(r)];
      std::int64_t sold = 0, confirmed = 0;
      for (int i = 0; i < kBuyers; ++i) {
        for (const Placed& p : tallies[static_cast<std::size_t>(i)].placed[static_cast<std::size_t>(r)]) {
          sold += p.quantity;
          // Read through the instance that did not place it: confirmed, for its units.
          Api& reader = (i % 2 == 0) ? b : a;
          HttpResponse o =
              reader.Get("/orders/" + std::to_string(p.order_id), buyers[static_cast<std::size_t>(i)].token);
          REQUIRE(o.status == 200);
          if (Str(o.Json(), "status") == "confirmed")
            confirmed += Int(o.Json().at("items").as_array().at(0), "quantity");
        }
      }
      // The stock as each instance reports it, once both agree.
      const std::int64_t left = Int(ProductVia(a, product), "stock");
      CHECK(SeenWithin([&] { return Int(ProductVia(b, product), "stock"); }, left) == left);
      CHECK(left >= 0);
      CHECK(sold == kStock - left);
      CHECK(confirmed == sold);
    }
  }

  TEST_CASE("a write through one instance is answered by the other within 2 s: price, stock, an order and its cancel") {
    Api a;
    Api b(SecondInstance().endpoint());
    const std::int64_t product = Int(CreateProduct(a, 500, 10, "twin-cache"), "id");
    auto price_via_b = [&] { return Int(ProductVia(b, product), "price_cents"); };
    auto stock_via_a = [&] { return Int(ProductVia(a, product), "stock"); };
    auto stock_via_b = [&] { return Int(ProductVia(b, product), "stock"); };
    // B reads it twice: from then on B answers from its cache.
    REQUIRE(price_via_b() == 500);
    REQUIRE(price_via_b() == 500);
    REQUIRE(stock_via_a() == 10);

    PatchProduct(a, product, {{"price_cents", 750}});
    CHECK(SeenWithin(price_via_b, 750) == 750);
    PatchProduct(b, product, {{"stock", 6}});
    CHECK(SeenWithin(stock_via_a, 6) == 6);

    User buyer = RegisterUser(a, "twin-cancel");
    const boost::json::object order = PlaceOrder(a, buyer.token, {{product, 2}});
    const std::int64_t order_id = Int(order, "id");
    CHECK(Int(order.at("items").as_array().at(0), "unit_price_cents") == 750);  // the price set through A
    CHECK(SeenWithin(stock_via_b, 4) == 4);
    HttpResponse seen = b.Get("/orders/" + std::to_string(order_id), buyer.token);
    REQUIRE(seen.status == 200);
    CHECK(Str(seen.Json(), "status") == "confirmed");

    HttpResponse cancelled =
        b.Post("/orders/" + std::to_string(order_id) + "/cancel", boost::json::object{}, buyer.token);
    REQUIRE(cancelled.status == 200);
    CHECK(Str(cancelled.Json(), "status") == "cancelled");
    std::string status;
    Eventually(
        [&] {
          HttpResponse r = a.Get("/orders/" + std::to_string(order_id), buyer.token);
          status = r.status == 200 ? Str(r.Json(), "status") : std::to_string(r.status);
          return status == "cancelled";
        },
        kVisible, 20ms);
    CHECK(status == "cancelled");
    // The stock comes back once (API.md: within 1 s), and both instances say so.
    CHECK(SeenWithin(stock_via_a, 6) == 6);
    CHECK(SeenWithin(stock_via_b, 6) == 6);
  }

  TEST_CASE("PostgreSQL: after the server ends every session of the services, the next requests all succeed") {
    if (!OnPostgres()) return;  // SQLite: no server, no sessions to lose
    const char* path = std::getenv("PATH");
    std::filesystem::path psql;
    for (std::string_view dirs = path ? path : ""; psql.empty() && !dirs.empty();) {
      const std::size_t colon = dirs.find(':');
      const std::filesystem::path candidate = std::filesystem::path(dirs.substr(0, colon)) / "psql";
      if (std::filesystem::exists(candidate)) psql = candidate;
      dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    }
    REQUIRE_MESSAGE(!psql.empty(), "psql not found in PATH");
    Api admin_api;
    const std::int64_t product = Int(CreateProduct(admin_api, 100, 1000, "twin-session"), "id");
    const User buyer = RegisterUser(admin_api, "twin-session");
    const Endpoint endpoints[2] = {TestServer::Get().endpoint(), SecondInstance().endpoint()};
    // Concurrent requests through both instances, so that many of their threads (each with its own
    // sessions) take part: an order and a read each. Returns every status answered.
    auto burst = [&] {
      constexpr int kClients = 8;
      std::vector<std::vector<int>> statuses(kClients);
      std::vector<std::thread> threads;
      for (int i = 0; i < kClients; ++i) {
        threads.emplace_back([&, i] {
          try {
            Api api(endpoints[i % 2]);
            statuses[static_cast<std::size_t>(i)].push_back(
                api.Post("/orders", OrderBody({{product, 1}}), buyer.token).status);
            statuses[static_cast<std::size_t>(i)].push_back(api.Get("/products/" + std::to_string(product)).status);
            statuses[static_cast<std::size_t>(i)].push_back(api.Get("/users/me", buyer.token).status);
          } catch (const std::exception&) {
            statuses[static_cast<std::size_t>(i)].push_back(0);
          }
        });
      }
      for (std::thread& t : threads) t.join();
      std::vector<int> all;
      for (const auto& s : statuses) all.insert(all.end(), s.begin(), s.end());
      return all;
    };
    for (int status : burst()) REQUIRE((status == 200 || status == 201));
    // As a restart would: every session of each service's role ends (a role may end its own sessions).
    for (const char* var : {"SHOP_USERS_DATABASE_URL", "SHOP_PRODUCTS_DATABASE_URL", "SHOP_ORDERS_DATABASE_URL"}) {
      CAPTURE(var);
      const auto [status, output] =
          RunToCompletion(psql, {std::getenv(var), "-XAtc",
                                 "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                                 "WHERE usename = current_user AND pid <> pg_backend_pid()"});
      REQUIRE_MESSAGE(status.Clean(), output);
      CHECK_MESSAGE(std::stoi(output) > 0, "sessions ended: ", output);
    }
    for (int status : burst()) CHECK((status == 200 || status == 201));
  }

  TEST_CASE("at the end: no 5xx was answered, and both instances stop cleanly on SIGTERM") {
    CHECK(ServerErrorsSeen() == 0);
    ExitStatus b = SecondInstance().Stop(SIGTERM);
    CHECK_MESSAGE(b.Clean(), "instance B: ", b.Describe(), "\n", SanitizerReport(SecondInstance().ReadStderr()));
    ExitStatus a = TestServer::Get().process().Stop(SIGTERM);
    CHECK_MESSAGE(a.Clean(), "instance A: ", a.Describe());
  }
}

}  // namespace shop::e2e
