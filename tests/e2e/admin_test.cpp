// PLATFORM.md's admin API, the same on both layouts: configuration (typed, checked, hot) and the
// service directory; and the edge's per-client rate limit driven by that configuration.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <string>
#include <thread>
#include <vector>

#include "api_client.h"
#include "server_harness.h"

namespace shop::e2e {
namespace {

using boost::json::object;

HttpResponse Put(Api& api, std::string_view key, std::string_view body, std::string_view token) {
  return api.Send("PUT", "/admin/config/" + std::string(key),
                  WithAuth(token, {{"Content-Type", "application/json"}}), body);
}

HttpResponse Delete(Api& api, std::string_view key, std::string_view token) {
  return api.Send("DELETE", "/admin/config/" + std::string(key), WithAuth(token));
}

/// The config item of `key` from GET /admin/config.
object Item(Api& api, std::string_view key) {
  HttpResponse r = api.Get("/admin/config", Admin().token);
  REQUIRE(r.status == 200);
  for (const auto& item : r.Json().at("items").as_array()) {
    if (Str(item, "key") == key) return item.as_object();
  }
  FAIL("no item " << key);
  return {};
}

/// Puts every key this file changes back to its default, whatever happened in the test.
struct ResetConfig {
  std::vector<std::string> keys;
  ~ResetConfig() {
    Api api;
    for (const std::string& key : keys) Delete(api, key, Admin().token);
  }
};

TEST_CASE("admin config: every key of the contract, sorted, with value, default and updated_at") {
  Api api;
  HttpResponse r = api.Get("/admin/config", Admin().token);
  REQUIRE(r.status == 200);
  std::vector<std::string> keys;
  for (const auto& item : r.Json().at("items").as_array()) {
    CHECK(Keys(item.as_object()) == std::set<std::string>{"key", "value", "default", "updated_at"});
    keys.push_back(Str(item, "key"));
  }
  CHECK(keys == std::vector<std::string>{"auth.token_ttl_seconds", "client.breaker.failures", "client.timeout_ms",
                                         "edge.rate_limit.burst", "edge.rate_limit.rps", "log.level"});
  CHECK(Item(api, "log.level").at("default") == "info");
  CHECK(Item(api, "edge.rate_limit.burst").at("default") == 100);
}

TEST_CASE("admin config: only admins; a customer gets 403, no token 401") {
  Api api;
  User customer = RegisterUser(api, "cfg");
  CheckProblem(api.Get("/admin/config"), 401, "unauthenticated");
  CheckProblem(api.Get("/admin/config", customer.token), 403, "forbidden");
  CheckProblem(Put(api, "log.level", R"({"value":"debug"})", customer.token), 403, "forbidden");
  CheckProblem(Delete(api, "log.level", customer.token), 403, "forbidden");
  CheckProblem(api.Get("/admin/services", customer.token), 403, "forbidden");
  CheckProblem(api.Get("/admin/services/prometheus"), 401, "unauthenticated");
}

TEST_CASE("admin: without an admin token nothing else is said: 401/403 before 404, 405 and 415") {
  // PLATFORM.md: every admin route needs an admin token. A caller without one must not learn which
  // admin paths, methods or media types exist.
  Api api;
  User customer = RegisterUser(api, "guard");
  struct Probe {
    std::string method, target, content_type;
    int admin_status;  // what an admin gets: the refusal the others must not see
  };
  const std::vector<Probe> probes = {
      {"GET", "/admin/no-such-thing", "", 404},
      {"GET", "/admin", "", 404},
      {"POST", "/admin/config", "application/json", 405},
      {"PUT", "/admin/config/log.level", "text/plain", 415},
      {"DELETE", "/admin/services", "", 405},
  };
  for (const Probe& p : probes) {
    CAPTURE(p.method);
    CAPTURE(p.target);
    HttpHeaders headers;
    if (!p.content_type.empty()) headers.push_back({"Content-Type", p.content_type});
    const std::string body = p.content_type.empty() ? "" : R"({"value":"info"})";
    CheckProblem(api.Send(p.method, p.target, headers, body), 401, "unauthenticated");
    CheckProblem(api.Send(p.method, p.target, WithAuth(customer.token, headers), body), 403, "forbidden");
    CHECK(api.Send(p.method, p.target, WithAuth(Admin().token, headers), body).status == p.admin_status);
  }
  // Only /admin and what is under it: a path that merely begins with the same letters is not guarded.
  CHECK(api.Get("/administrator").status == 404);
}

TEST_CASE("admin config: a change answers the item, shows at once, and DELETE goes back to the default") {
  ResetConfig reset{{"auth.token_ttl_seconds"}};
  Api api;
  HttpResponse r = Put(api, "auth.token_ttl_seconds", R"({"value":120})", Admin().token);
  REQUIRE(r.status == 200);
  CHECK(r.Json().at("key") == "auth.token_ttl_seconds");
  CHECK(r.Json().at("value") == 120);
  CHECK(r.Json().at("default") == 3600);
  CHECK(IsRfc3339Utc(Str(r.Json(), "updated_at")));
  CHECK(Item(api, "auth.token_ttl_seconds").at("value") == 120);

  // The token issuer follows at once: the next token lives 120 s (within 1 s everywhere).
  User user = RegisterUser(api, "ttl");
  CHECK(Eventually(
      [&] {
        HttpResponse t = api.Post("/auth/token", object{{"email", user.email}, {"password", user.password}});
        return t.status == 200 && Int(t.Json(), "expires_in") == 120;
      },
      std::chrono::seconds(1)));

  r = Delete(api, "auth.token_ttl_seconds", Admin().token);
  REQUIRE(r.status == 200);
  CHECK(r.Json().at("value") == 3600);
  CHECK(r.Json().at("updated_at").is_null());
}

TEST_CASE("admin config: wrong types, out of range and unknown keys are refused and change nothing") {
  Api api;
  const object before = Item(api, "edge.rate_limit.burst");
  for (std::string_view body : {R"({"value":"10"})", R"({"value":1.5})", R"({"value":true})", R"({"value":null})",
                                R"({"value":0})", R"({"value":1000001})", R"({"value":[1]})", R"({})",
                                R"({"value":10,"extra":1})", R"([10])"}) {
    CAPTURE(body);
    CheckProblem(Put(api, "edge.rate_limit.burst", body, Admin().token), 400, "validation_failed");
  }
  CheckProblem(Put(api, "edge.rate_limit.burst", "{not json", Admin().token), 400, "malformed_json");
  CHECK(Item(api, "edge.rate_limit.burst") == before);

  CheckProblem(Put(api, "log.level", R"({"value":"verbose"})", Admin().token), 400, "validation_failed");
  CheckProblem(Put(api, "edge.rate_limit.rps", R"({"value":-1})", Admin().token), 400, "validation_failed");
  CheckProblem(Put(api, "client.timeout_ms", R"({"value":49})", Admin().token), 400, "validation_failed");
  CheckProblem(Put(api, "no.such.key", R"({"value":1})", Admin().token), 404, "not_found");
  // A process's own settings are not central configuration: not listed, not changeable here.
  CheckProblem(Put(api, "server.handler_threads", R"({"value":4})", Admin().token), 404, "not_found");
  CheckProblem(Delete(api, "no.such.key", Admin().token), 404, "not_found");
  CHECK(Item(api, "log.level").at("updated_at").is_null());
}

TEST_CASE("rate limit at the edge: per client, 429 rate_limited with Retry-After, never on health or admin") {
  ResetConfig reset{{"edge.rate_limit.rps", "edge.rate_limit.burst"}};
  Api api;
  User limited = RegisterUser(api, "limited");
  User other = RegisterUser(api, "other");
  REQUIRE(Put(api, "edge.rate_limit.burst", R"({"value":3})", Admin().token).status == 200);
  REQUIRE(Put(api, "edge.rate_limit.rps", R"({"value":0.2})", Admin().token).status == 200);

  // The burst, then 429 with a whole number of seconds to wait (one token per 5 s here).
  int ok = 0;
  HttpResponse refused;
  for (int i = 0; i < 10 && refused.status != 429; ++i) {
    HttpResponse r = api.Get("/users/me", limited.token);
    if (r.status == 200) ++ok;
    if (r.status == 429) refused = r;
  }
  CHECK(ok == 3);
  CheckProblem(refused, 429, "rate_limited");
  const std::string retry_after(refused.Header("Retry-After"));
  REQUIRE_FALSE(retry_after.empty());
  CHECK(std::stoi(retry_after) >= 1);
  CHECK(std::stoi(retry_after) <= 5);

  // Another client has its own bucket; health, metrics and the admin API are never limited.
  CHECK(api.Get("/users/me", other.token).status == 200);
  for (int i = 0; i < 5; ++i) {
    CHECK(api.Get("/health/ready").status == 200);
    CHECK(api.Get("/admin/config", Admin().token).status == 200);
  }
  // The admin lifts the limit: the client is served again at once.
  REQUIRE(Put(api, "edge.rate_limit.rps", R"({"value":0})", Admin().token).status == 200);
  CHECK(api.Get("/users/me", limited.token).status == 200);
}

TEST_CASE("admin services: the running instances, and a Prometheus HTTP SD target per instance") {
  Api api;
  HttpResponse r = api.Get("/admin/services", Admin().token);
  REQUIRE(r.status == 200);
  std::set<std::string> names;
  std::size_t instances = 0;
  for (const auto& service : r.Json().at("services").as_array()) {
    names.insert(Str(service, "name"));
    for (const auto& i : service.at("instances").as_array()) {
      ++instances;
      CHECK(Keys(i.as_object()) == std::set<std::string>{"id", "url", "version", "started_at", "last_seen", "compatible"});
      CHECK(Str(i, "url").starts_with("http://"));
      CHECK(IsRfc3339Utc(Str(i, "started_at")));
      CHECK(IsRfc3339Utc(Str(i, "last_seen")));
      CHECK(i.at("compatible").is_bool());
    }
  }
  // The single binary is one service `shop`; the split layout lists its four services.
  const bool single = names == std::set<std::string>{"shop"};
  const bool split = names == std::set<std::string>{"users", "products", "orders", "gateway"};
  CHECK((single || split));
  if (single) CHECK(instances == 1);

  r = api.Get("/admin/services/prometheus", Admin().token);
  REQUIRE(r.status == 200);
  std::size_t targets = 0;
  for (const auto& group : r.Json().as_array()) {
    ++targets;
    REQUIRE(group.at("targets").as_array().size() == 1);
    CHECK(group.at("targets").as_array()[0].as_string().find(':') != boost::json::string::npos);
    CHECK(Keys(group.at("labels").as_object()) == std::set<std::string>{"service", "instance", "version"});
  }
  CHECK(targets == instances);
}

TEST_CASE("admin config: a value survives a restart of the single binary") {
  if (!TestServer::Get().managed()) {
    MESSAGE("skipped: needs the harness to start the server (SHOP_E2E_BASE_URL is set)");
    return;
  }
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"client.timeout_ms", "777"},          {"client.breaker.failures", "7"},   {"auth.token_ttl_seconds", "1234"},
      {"edge.rate_limit.burst", "77"},        {"log.level", "\"warn\""}};
  ResetConfig reset;
  for (const auto& [key, value] : changes) reset.keys.push_back(key);
  // Changes at once, to different keys: none may be lost from the file.
  std::vector<std::thread> writers;
  for (const auto& [key, value] : changes) {
    writers.emplace_back([&key, &value] {
      Api api;
      CHECK(Put(api, key, R"({"value":)" + value + "}", Admin().token).status == 200);
    });
  }
  for (auto& w : writers) w.join();
  TestServer::Get().Restart(SIGTERM);
  Api after;
  for (const auto& [key, value] : changes) {
    CAPTURE(key);
    CHECK(Dump(Item(after, key).at("value")) == value);
  }
}

}  // namespace
}  // namespace shop::e2e
