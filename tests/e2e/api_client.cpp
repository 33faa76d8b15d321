#include "api_client.h"

#include <doctest/doctest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <mutex>
#include <regex>

#include "server_harness.h"

namespace shop::e2e {
namespace {

std::atomic<std::size_t> g_server_errors{0};

/// API.md's table of error codes, by status.
const std::map<int, std::set<std::string>>& CodeTable() {
  static const std::map<int, std::set<std::string>> table = {
      {400, {"validation_failed", "malformed_json", "unsupported_api_version"}},
      {401, {"unauthenticated", "invalid_credentials"}},
      {403, {"forbidden"}},
      {404, {"not_found"}},
      {405, {"method_not_allowed"}},
      {409, {"email_taken", "sku_taken", "insufficient_stock", "request_in_progress"}},
      {413, {"payload_too_large"}},
      {415, {"unsupported_media_type"}},
      {422, {"unknown_product", "idempotency_key_reused"}},
      {429, {"rate_limited"}},
      {503, {"dependency_unavailable"}},
      {500, {"internal"}},
  };
  return table;
}

std::string Describe(const HttpResponse& r) { return std::to_string(r.status) + " " + r.body.substr(0, 400); }

}  // namespace

HttpHeaders WithAuth(std::string_view token, HttpHeaders headers) {
  if (!token.empty()) headers.push_back({"Authorization", "Bearer " + std::string(token)});
  return headers;
}

Api::Api() : Api(TestServer::Get().endpoint()) {}

Api::Api(Endpoint endpoint, std::chrono::milliseconds timeout) : conn_(std::move(endpoint), timeout) {}

HttpResponse Api::Send(std::string_view method, std::string_view target, const HttpHeaders& headers,
                       std::string_view body) {
  HttpResponse r = conn_.Request(method, target, headers, body);
  CheckConventions(r, std::string(method) + " " + std::string(target.substr(0, 200)));
  return r;
}

HttpResponse Api::Get(std::string_view target, std::string_view token, HttpHeaders headers) {
  return Send("GET", target, WithAuth(token, std::move(headers)));
}

HttpResponse Api::Post(std::string_view target, const boost::json::value& body, std::string_view token,
                       HttpHeaders headers) {
  return PostRaw(target, Dump(body), "application/json", token, std::move(headers));
}

HttpResponse Api::PostRaw(std::string_view target, std::string_view body, std::string_view content_type,
                          std::string_view token, HttpHeaders headers) {
  if (!content_type.empty()) headers.push_back({"Content-Type", std::string(content_type)});
  return Send("POST", target, WithAuth(token, std::move(headers)), body);
}

HttpResponse Api::Patch(std::string_view target, const boost::json::value& body, std::string_view token,
                        HttpHeaders headers) {
  headers.push_back({"Content-Type", "application/json"});
  return Send("PATCH", target, WithAuth(token, std::move(headers)), Dump(body));
}

void CheckConventions(const HttpResponse& r, std::string_view request) {
  INFO("request: ", std::string(request), "\nresponse: ", Describe(r));
  if (r.status >= 500) ++g_server_errors;
  CHECK_MESSAGE(r.status < 500, "a 5xx for a client's request");
  CHECK(r.Header("Api-Version") == "1");
  CHECK(r.HeaderCount("Api-Version") == 1);
  CHECK(!r.Header("X-Request-Id").empty());
  if (r.status >= 400) {
    CHECK(r.Header("Content-Type").starts_with("application/problem+json"));
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(r.body, ec);
    REQUIRE_MESSAGE(!ec, "problem body is not JSON");
    REQUIRE(v.is_object());
    const boost::json::object& o = v.as_object();
    CHECK((o.contains("type") && o.at("type").is_string()));
    CHECK((o.contains("title") && o.at("title").is_string() && !o.at("title").as_string().empty()));
    CHECK((o.contains("status") && o.at("status").is_int64() && o.at("status").as_int64() == r.status));
    CHECK((o.contains("detail") && o.at("detail").is_string()));
    REQUIRE((o.contains("code") && o.at("code").is_string()));
    std::string code(o.at("code").as_string());
    auto it = CodeTable().find(r.status);
    CHECK_MESSAGE((it != CodeTable().end() && it->second.contains(code)), "status ", r.status, " with code ", code,
                  " is not in API.md's table");
  } else if (r.status >= 200 && r.status < 300 && !r.body.empty() && !request.starts_with("GET /metrics")) {
    CHECK(r.Header("Content-Type").starts_with("application/json"));
  }
}

void CheckProblem(const HttpResponse& r, int status, std::string_view code) {
  INFO("response: ", Describe(r));
  CHECK(r.status == status);
  CHECK(r.Header("Content-Type").starts_with("application/problem+json"));
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r.body, ec);
  REQUIRE_MESSAGE(!ec, "problem body is not JSON");
  REQUIRE(v.is_object());
  const boost::json::object& o = v.as_object();
  CHECK(o.contains("type"));
  CHECK(o.contains("title"));
  CHECK(o.contains("detail"));
  CHECK((o.contains("status") && o.at("status").is_int64() && o.at("status").as_int64() == status));
  CHECK((o.contains("code") && o.at("code").is_string() && o.at("code").as_string() == code));
}

std::size_t ServerErrorsSeen() { return g_server_errors.load(); }

std::string Dump(const boost::json::value& v) { return boost::json::serialize(v); }

std::set<std::string> Keys(const boost::json::object& o) {
  std::set<std::string> keys;
  for (const auto& kv : o) keys.insert(std::string(kv.key()));
  return keys;
}

bool IsRfc3339Utc(std::string_view text) {
  static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");
  return std::regex_match(text.begin(), text.end(), re);
}

std::int64_t Int(const boost::json::value& obj, std::string_view key) {
  INFO("JSON: ", Dump(obj), " key: ", std::string(key));
  REQUIRE(obj.is_object());
  const boost::json::value* v = obj.as_object().if_contains(key);
  REQUIRE(v != nullptr);
  REQUIRE(v->is_int64());
  return v->as_int64();
}

std::string Str(const boost::json::value& obj, std::string_view key) {
  INFO("JSON: ", Dump(obj), " key: ", std::string(key));
  REQUIRE(obj.is_object());
  const boost::json::value* v = obj.as_object().if_contains(key);
  REQUIRE(v != nullptr);
  REQUIRE(v->is_string());
  return std::string(v->as_string());
}

User RegisterUser(Api& api, std::string_view label) {
  User u;
  u.email = Unique(label) + "@e2e.test";
  u.password = "pw-" + RandomHexString(6);
  u.name = "E2E " + std::string(label);
  HttpResponse r =
      api.Post("/users", boost::json::object{{"email", u.email}, {"password", u.password}, {"name", u.name}});
  INFO("register: ", Describe(r));
  REQUIRE(r.status == 201);
  u.id = Int(r.Json(), "id");
  u.token = Login(api, u.email, u.password);
  return u;
}

std::string Login(Api& api, std::string_view email, std::string_view password) {
  HttpResponse r = api.Post("/auth/token", boost::json::object{{"email", email}, {"password", password}});
  INFO("login: ", Describe(r));
  REQUIRE(r.status == 200);
  return Str(r.Json(), "access_token");
}

const User& Admin() {
  static std::mutex mu;
  static User admin;
  std::lock_guard lock(mu);
  if (admin.token.empty()) {
    TestServer& server = TestServer::Get();
    REQUIRE_MESSAGE(!server.admin_email().empty(), "set SHOP_E2E_ADMIN_EMAIL and SHOP_E2E_ADMIN_PASSWORD");
    Api api;
    admin.email = server.admin_email();
    admin.password = server.admin_password();
    admin.token = Login(api, admin.email, admin.password);
    HttpResponse me = api.Get("/users/me", admin.token);
    REQUIRE(me.status == 200);
    admin.id = Int(me.Json(), "id");
    admin.name = Str(me.Json(), "name");
  }
  return admin;
}

boost::json::object CreateProduct(Api& api, std::int64_t price_cents, std::int64_t stock, std::string_view label) {
  HttpResponse r = api.Post("/products",
                            boost::json::object{{"sku", Unique(label)},
                                                {"name", "E2E product " + std::string(label)},
                                                {"price_cents", price_cents},
                                                {"stock", stock}},
                            Admin().token);
  INFO("create product: ", Describe(r));
  REQUIRE(r.status == 201);
  boost::json::value v = r.Json();
  REQUIRE(v.is_object());
  return v.as_object();
}

std::int64_t StockOf(Api& api, std::int64_t product_id) {
  HttpResponse r = api.Get("/products/" + std::to_string(product_id));
  INFO("get product: ", Describe(r));
  REQUIRE(r.status == 200);
  return Int(r.Json(), "stock");
}

std::int64_t StockWithin(Api& api, std::int64_t product_id, std::int64_t expected, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (true) {
    const std::int64_t stock = StockOf(api, product_id);
    if (stock == expected || std::chrono::steady_clock::now() >= deadline) return stock;
  }
}

void SetStock(Api& api, std::int64_t product_id, std::int64_t stock) {
  HttpResponse r =
      api.Patch("/products/" + std::to_string(product_id), boost::json::object{{"stock", stock}}, Admin().token);
  INFO("patch stock: ", Describe(r));
  REQUIRE(r.status == 200);
}

boost::json::value OrderBody(const OrderLines& lines) {
  boost::json::array items;
  for (const auto& [product, quantity] : lines) {
    items.push_back(boost::json::object{{"product_id", product}, {"quantity", quantity}});
  }
  return boost::json::object{{"items", std::move(items)}};
}

boost::json::object PlaceOrder(Api& api, std::string_view token, const OrderLines& lines) {
  HttpResponse r = api.Post("/orders", OrderBody(lines), token);
  INFO("place order: ", Describe(r));
  REQUIRE(r.status == 201);
  boost::json::value v = r.Json();
  REQUIRE(v.is_object());
  return v.as_object();
}

}  // namespace shop::e2e
