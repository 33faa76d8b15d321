// The process: command line, signals, durability across restarts, the signing key and token expiry.
// Needs the harness to own the process; skipped with SHOP_E2E_BASE_URL.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api_client.h"
#include "jwt_tools.h"
#include "server_harness.h"

namespace shop::e2e {
namespace {

using boost::json::object;

/// False (and says why) when the server was started by someone else: it cannot be signalled here.
bool Managed() {
  if (TestServer::Get().managed()) return true;
  MESSAGE("skipped: needs the harness to start the server (SHOP_E2E_BASE_URL is set)");
  return false;
}

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::set<std::string> Kids(Api& api) {
  std::set<std::string> kids;
  HttpResponse r = api.Get("/.well-known/jwks.json");
  REQUIRE(r.status == 200);
  const boost::json::value& jwks = r.Json();
  for (const boost::json::value& k : jwks.at("keys").as_array()) kids.insert(Str(k, "kid"));
  return kids;
}

/// Every order of `token`'s user, following next_after to the end.
std::vector<boost::json::value> AllOrders(Api& api, const std::string& token) {
  std::vector<boost::json::value> orders;
  std::string target = "/orders?limit=100";
  for (int pages = 0; pages < 1000; ++pages) {
    HttpResponse r = api.Get(target, token);
    REQUIRE(r.status == 200);
    boost::json::value page = r.Json();
    for (const boost::json::value& o : page.at("items").as_array()) orders.push_back(o);
    if (page.at("next_after").is_null()) break;
    target = "/orders?limit=100&after=" + std::to_string(Int(page, "next_after"));
  }
  return orders;
}

}  // namespace

TEST_SUITE("process") {
  TEST_CASE("--help exits 0 with usage; bad flags exit non-zero") {
    if (!Managed()) return;
    const std::filesystem::path binary = TestServer::Get().binary();
    auto [help, usage] = RunToCompletion(binary, {"--help"}, std::chrono::seconds(10));
    CHECK_MESSAGE(help.Clean(), help.Describe());
    CHECK(usage.find("--port") != std::string::npos);
    CHECK(usage.find("--data-dir") != std::string::npos);

    testing::TempDir dir;
    for (std::vector<std::string> args :
         {std::vector<std::string>{"--no-such-flag", "x", "--port", "0", "--data-dir", dir.path().string()},
          std::vector<std::string>{"--port", "70000", "--data-dir", dir.path().string()},
          std::vector<std::string>{"--port", "abc", "--data-dir", dir.path().string()},
          std::vector<std::string>{"--port", "0", "--data-dir", dir.path().string(), "--log-level", "loud"},
          std::vector<std::string>{"--port"}}) {
      auto [status, output] = RunToCompletion(binary, args, std::chrono::seconds(10));
      CAPTURE(args.front());
      CAPTURE(output);
      CHECK_FALSE(status.timed_out);
      CHECK(status.exited);
      CHECK(status.code != 0);
    }
  }

  TEST_CASE("users, products, orders and tokens survive SIGTERM and a restart") {
    if (!Managed()) return;
    TestServer& server = TestServer::Get();
    boost::json::value me, product, order;
    User u;
    std::set<std::string> kids;
    {
      Api api;
      u = RegisterUser(api, "durable");
      boost::json::object p = CreateProduct(api, 321, 10, "durable");
      boost::json::object o = PlaceOrder(api, u.token, {{Int(p, "id"), 3}});
      me = api.Get("/users/me", u.token).Json();
      product = api.Get("/products/" + std::to_string(Int(p, "id"))).Json();
      order = api.Get("/orders/" + std::to_string(Int(o, "id")), u.token).Json();
      kids = Kids(api);
    }
    ExitStatus stopped = server.Restart(SIGTERM);
    CHECK_MESSAGE(stopped.Clean(), "SIGTERM: ", stopped.Describe());

    Api api;
    HttpResponse me_after = api.Get("/users/me", u.token);
    REQUIRE_MESSAGE(me_after.status == 200, "a token issued before the restart no longer verifies");
    CHECK(me_after.Json() == me);
    CHECK(api.Get("/products/" + std::to_string(Int(product, "id"))).Json() == product);
    CHECK(Int(product, "stock") == 7);
    CHECK(api.Get("/orders/" + std::to_string(Int(order, "id")), u.token).Json() == order);
    for (const std::string& kid : kids) CHECK(Kids(api).contains(kid));
    CHECK(!Login(api, u.email, u.password).empty());
    CheckProblem(api.Post("/users", object{{"email", u.email}, {"password", "password-123"}, {"name", "Again"}}), 409,
                 "email_taken");
    CheckProblem(
        api.Post("/products", object{{"sku", Str(product, "sku")}, {"name", "x"}, {"price_cents", 1}, {"stock", 1}},
                 Admin().token),
        409, "sku_taken");
    // The admin is still the same one (not created a second time from the environment).
    std::string admin_token = Login(api, Admin().email, Admin().password);
    HttpResponse admin_me = api.Get("/users/me", admin_token);
    REQUIRE(admin_me.status == 200);
    CHECK(Int(admin_me.Json(), "id") == Admin().id);
    CHECK(api.Get("/users/me", Admin().token).status == 200);
    // New orders continue after the old ones.
    boost::json::object next = PlaceOrder(api, u.token, {{Int(product, "id"), 1}});
    CHECK(Int(next, "id") > Int(order, "id"));
  }

  TEST_CASE("SIGINT also stops the server with exit code 0") {
    if (!Managed()) return;
    ExitStatus stopped = TestServer::Get().Restart(SIGINT);
    CHECK_MESSAGE(stopped.Clean(), "SIGINT: ", stopped.Describe());
    Api api;
    CHECK(api.Get("/health/ready").status == 200);
  }

  TEST_CASE("SIGTERM under load: exit code 0, every acknowledged order survives, stock adds up") {
    if (!Managed()) return;
    TestServer& server = TestServer::Get();
    constexpr int kClients = 8;
    constexpr std::int64_t kStock = 100000;
    std::int64_t product = 0;
    std::vector<User> users;
    {
      Api api;
      product = Int(CreateProduct(api, 5, kStock, "shutdown"), "id");
      for (int i = 0; i < kClients; ++i) users.push_back(RegisterUser(api, "shutdown"));
    }
    std::mutex mu;
    std::vector<std::int64_t> acknowledged;
    std::vector<std::string> bad_answers;
    std::atomic<int> placed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
      threads.emplace_back([&, i] {
        try {
          Connection c(server.endpoint(), std::chrono::seconds(20));
          for (;;) {
            HttpResponse r =
                c.Request("POST", "/orders",
                          WithAuth(users[static_cast<std::size_t>(i)].token, {{"Content-Type", "application/json"}}),
                          Dump(OrderBody({{product, 1}})));
            std::lock_guard lock(mu);
            if (r.status == 201) {
              acknowledged.push_back(r.Json().at("id").as_int64());
              ++placed;
            } else {
              bad_answers.push_back(std::to_string(r.status) + " " + r.body.substr(0, 200));
              return;
            }
          }
        } catch (const std::exception&) {
          // The connection was closed or refused: the server is going away.
        }
      });
    }
    bool busy = Eventually([&] { return placed.load() >= 40; }, std::chrono::seconds(30));
    ExitStatus stopped = server.process().Stop(SIGTERM);
    for (std::thread& t : threads) t.join();
    CHECK(busy);
    CHECK_MESSAGE(stopped.Clean(), "SIGTERM under load: ", stopped.Describe());
    for (const std::string& b : bad_answers) FAIL_CHECK("answer during shutdown: ", b);

    server.process().Start();
    Api api;
    std::set<std::int64_t> existing;
    std::int64_t units = 0;
    for (const User& u : users) {
      for (const boost::json::value& o : AllOrders(api, u.token)) {
        existing.insert(Int(o, "id"));
        if (Str(o, "status") == "confirmed") units += Int(o.at("items").as_array().at(0), "quantity");
      }
    }
    MESSAGE(acknowledged.size(), " orders acknowledged before the stop, ", existing.size(), " found after");
    for (std::int64_t id : acknowledged) CHECK_MESSAGE(existing.contains(id), "acknowledged order ", id, " was lost");
    CHECK(units + StockOf(api, product) == kStock);
  }

  TEST_CASE("with --signing-key and --token-ttl: the key and lifetime are used; expired or forged claims are refused") {
    if (!Managed()) return;
    testing::TempDir dir;
    Ed25519Key key;
    {
      std::ofstream pem(dir / "signing-key.pem");
      pem << key.PrivatePem();
    }
    std::filesystem::permissions(dir / "signing-key.pem",
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const std::string admin_email = "admin-ttl-" + RunId() + "@e2e.test";
    ShopProcess::Options options;
    options.binary = TestServer::Get().binary();
    options.data_dir = dir / "data";
    options.log_dir = dir.path();
    options.extra_args = {"--signing-key", (dir / "signing-key.pem").string(), "--token-ttl", "60"};
    options.env = {{"SHOP_ADMIN_EMAIL", admin_email}, {"SHOP_ADMIN_PASSWORD", "admin-password-1"}};
    ShopProcess shop(options);
    shop.Start();
    Api api(shop.endpoint());

    HttpResponse jwks = api.Get("/.well-known/jwks.json");
    REQUIRE(jwks.status == 200);
    const boost::json::array& keys = jwks.Json().at("keys").as_array();  // jwks owns the parsed body
    REQUIRE(keys.size() >= 1);
    CHECK(Base64UrlDecode(Str(keys.at(0), "x")) == key.public_raw());

    std::string email = Unique("ttl") + "@e2e.test";
    REQUIRE(api.Post("/users", object{{"email", email}, {"password", "password-123"}, {"name", "Ttl"}}).status == 201);
    HttpResponse issued = api.Post("/auth/token", object{{"email", email}, {"password", "password-123"}});
    REQUIRE(issued.status == 200);
    CHECK(Int(issued.Json(), "expires_in") == 60);
    const std::string token = Str(issued.Json(), "access_token");
    std::optional<JwtParts> parts = SplitJwt(token);
    REQUIRE(parts.has_value());
    const boost::json::object claims = boost::json::parse(parts->payload_json).as_object();
    CHECK(Int(claims, "exp") - Int(claims, "iat") == 60);

    auto forged = [&](boost::json::object c, std::string header = {}) {
      return SignJwt(header.empty() ? parts->header_json : header, Dump(c), key);
    };
    auto with = [&](std::string_view k, boost::json::value v) {
      boost::json::object c = claims;
      c["exp"] = Now() + 3600;  // outlives the test unless `k` is exp itself
      c[k] = std::move(v);
      return c;
    };
    auto without = [&](std::string_view k) {
      boost::json::object c = claims;
      c["exp"] = Now() + 3600;
      c.erase(k);
      return c;
    };
    // Control: a token made here with the server's key and sane claims is accepted.
    REQUIRE(api.Get("/users/me", forged(with("iat", Now()))).status == 200);

    for (const auto& [label, bad] : std::vector<std::pair<std::string, boost::json::object>>{
             {"expired two minutes ago (beyond any clock-skew leeway)", with("exp", Now() - 120)},
             {"long expired", with("exp", Now() - 86400 * 365)},
             {"exp as a string", with("exp", boost::json::string(std::to_string(Now() + 3600)))},
             {"no exp", without("exp")},
             {"wrong issuer", with("iss", "someone-else")},
             {"no issuer", without("iss")},
             {"no sub", without("sub")},
             {"sub not a string", with("sub", std::stoll(Str(claims, "sub")))},
             {"sub not a number", with("sub", "abc")},
             {"sub zero", with("sub", "0")},
             {"unknown role", with("role", "root")},
             {"no role", without("role")},
         }) {
      CAPTURE(label);
      CheckProblem(api.Get("/users/me", {}, {{"Authorization", "Bearer " + forged(bad)}}), 401, "unauthenticated");
    }
    CheckProblem(api.Get("/users/me", forged(with("iat", Now()), R"({"alg":"EdDSA","typ":"JWT","kid":"unknown"})")),
                 401, "unauthenticated");

    CHECK(api.Get("/users/me", token).status == 200);

    ExitStatus stopped = shop.Stop(SIGINT);
    CHECK_MESSAGE(stopped.Clean(), stopped.Describe(), "\n", SanitizerReport(shop.ReadStderr()));
  }
}

}  // namespace shop::e2e
