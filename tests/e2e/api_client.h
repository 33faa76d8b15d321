#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http_client.h"

/// The suite's view of the public API: a connection that checks the conventions every response
/// must follow, and helpers for the steps many tests share (sign up, create a product, order).
namespace shop::e2e {

/// Adds `Authorization: Bearer <token>` when `token` is not empty.
HttpHeaders WithAuth(std::string_view token, HttpHeaders headers = {});

/// One keep-alive connection to the server under test. Every response is checked with
/// CheckConventions. One per thread.
class Api {
 public:
  Api();  ///< to TestServer::Get()
  explicit Api(Endpoint endpoint, std::chrono::milliseconds timeout = std::chrono::seconds(15));

  HttpResponse Send(std::string_view method, std::string_view target, const HttpHeaders& headers = {},
                    std::string_view body = {});
  HttpResponse Get(std::string_view target, std::string_view token = {}, HttpHeaders headers = {});
  /// POST with a JSON body and `Content-Type: application/json`.
  HttpResponse Post(std::string_view target, const boost::json::value& body, std::string_view token = {},
                    HttpHeaders headers = {});
  /// POST with exactly these body bytes and Content-Type (none when empty).
  HttpResponse PostRaw(std::string_view target, std::string_view body, std::string_view content_type,
                       std::string_view token = {}, HttpHeaders headers = {});
  HttpResponse Patch(std::string_view target, const boost::json::value& body, std::string_view token = {},
                     HttpHeaders headers = {});

  Connection& connection() { return conn_; }

 private:
  Connection conn_;
};

/// What API.md promises for every response: `Api-Version: 1`, an `X-Request-Id`, never a 5xx for a
/// client's request, errors as problem+json with a code from the table, JSON for JSON successes.
void CheckConventions(const HttpResponse& r, std::string_view request);
/// The response is the problem `status` / `code`.
void CheckProblem(const HttpResponse& r, int status, std::string_view code);
/// 5xx responses seen by any Api in this process.
std::size_t ServerErrorsSeen();

// JSON.
std::string Dump(const boost::json::value& v);
std::set<std::string> Keys(const boost::json::object& o);
/// `2026-11-21T10:00:00Z` (fractional seconds allowed).
bool IsRfc3339Utc(std::string_view text);
/// obj[key] as an integer; fails the test when absent or not an integer.
std::int64_t Int(const boost::json::value& obj, std::string_view key);
std::string Str(const boost::json::value& obj, std::string_view key);

// Users.
struct User {
  std::int64_t id = 0;
  std::string email;
  std::string password;
  std::string name;
  std::string token;
};
/// A fresh customer, registered and signed in.
User RegisterUser(Api& api, std::string_view label = "user");
std::string Login(Api& api, std::string_view email, std::string_view password);
/// The first admin (from the environment), signed in once per process.
const User& Admin();

// Products and orders.
/// A product made by the admin with a unique sku; fails the test unless 201.
boost::json::object CreateProduct(Api& api, std::int64_t price_cents, std::int64_t stock, std::string_view label = "p");
std::int64_t StockOf(Api& api, std::int64_t product_id);
/// The product's stock once it is `expected`, or as last read when `within` passed first: for stock
/// that comes back asynchronously (a cancel's order_cancelled event; API.md allows 1 s).
std::int64_t StockWithin(Api& api, std::int64_t product_id, std::int64_t expected,
                         std::chrono::milliseconds within = std::chrono::seconds(1));
void SetStock(Api& api, std::int64_t product_id, std::int64_t stock);

using OrderLines = std::vector<std::pair<std::int64_t, std::int64_t>>;  ///< (product_id, quantity)
boost::json::value OrderBody(const OrderLines& lines);
/// Places an order; fails the test unless 201.
boost::json::object PlaceOrder(Api& api, std::string_view token, const OrderLines& lines);

}  // namespace shop::e2e
