// Input a careless or malicious client may send. The server must answer 4xx or close the
// connection, never 5xx, never hang, and keep serving everybody else.
#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "api_client.h"
#include "server_harness.h"

namespace shop::e2e {
namespace {

using boost::json::object;
using namespace std::string_view_literals;

/// What came back for raw bytes on a fresh connection: a response, or nullopt when it was closed.
std::optional<HttpResponse> RawExchange(std::string_view bytes) {
  Connection c(TestServer::Get().endpoint(), std::chrono::seconds(20));
  c.SendRaw(bytes);
  return c.ReadResponse();
}

void CheckServerStillServes() {
  Api api(TestServer::Get().endpoint(), std::chrono::seconds(5));
  CHECK(api.Get("/health/live").status == 200);
  CHECK(api.Get("/products?limit=1").status == 200);
}

/// The bytes got a 4xx (with the headers every response carries) or a closed connection.
void CheckRejected(std::string_view bytes, std::string_view label) {
  CAPTURE(std::string(label));
  std::optional<HttpResponse> r = RawExchange(bytes);
  if (r) {
    INFO("response: ", r->status, " ", r->body.substr(0, 300));
    CHECK(r->status >= 400);
    CHECK(r->status < 500);
    CHECK(r->Header("Api-Version") == "1");
    CHECK(!r->Header("X-Request-Id").empty());
  }
  CheckServerStillServes();
}

void CheckBadJson(Api& api, std::string_view target, std::string_view body, std::string_view token = {}) {
  CAPTURE(std::string(target));
  CAPTURE(std::string(body.substr(0, 120)));
  HttpResponse r = api.PostRaw(target, body, "application/json", token);
  CHECK(r.status == 400);
  if (r.status == 400) {
    std::string code = Str(r.Json(), "code");
    CHECK((code == "malformed_json" || code == "validation_failed"));
  }
}

std::string Repeat(std::string_view s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_SUITE("hostile") {
  TEST_CASE("garbage and broken framing get 400 or a closed connection") {
    std::mt19937 rng(42);
    std::string noise(4096, '\0');
    for (char& c : noise) c = static_cast<char>(rng() & 0xff);
    CheckRejected("\x00\x01\x02\xff\xfe garbage\r\n\r\n"sv, "binary garbage");
    CheckRejected(noise, "4 KiB of random bytes");
    CheckRejected("HELLO\r\n\r\n", "not a request line");
    CheckRejected("GET\r\n\r\n", "method only");
    CheckRejected("GET /products HTTP/9.9\r\nHost: x\r\n\r\n", "unknown HTTP version");
    CheckRejected("GET /products HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n", "header without colon");
    CheckRejected("GET /products HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n", "empty header name");
    CheckRejected("GET /products HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n"sv, "NUL in a header value");
    CheckRejected(
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
        "Content-Length: 6\r\n\r\n{}{}{}",
        "conflicting Content-Length");
    CheckRejected("POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}",
                  "negative Content-Length");
    CheckRejected("POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}",
                  "non-numeric Content-Length");
    CheckRejected(
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 99999999999999999999999\r\n\r\n{}",
        "overflowing Content-Length");
    CheckRejected(
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "Content-Length with Transfer-Encoding");
    CheckRejected(
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        "bad chunk size");
    CheckRejected(
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: gzip\r\n\r\n{}",
        "unsupported transfer coding");
    CheckRejected("GET /products HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(17 * 1024, 'a') + "\r\n\r\n",
                  "one header over 16 KiB");
    std::string many = "GET /products HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 400; ++i) many += "X-Header-" + std::to_string(i) + ": " + std::string(60, 'v') + "\r\n";
    CheckRejected(many + "\r\n", "headers totalling over 16 KiB");
    CheckRejected("GET /" + std::string(20 * 1024, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n", "request line over 16 KiB");
  }

  TEST_CASE("an unknown method is 400 or 405, never 5xx") {
    for (std::string method : {"BREW", "FOO", "PRI"}) {
      CAPTURE(method);
      std::optional<HttpResponse> r = RawExchange(method + " /products HTTP/1.1\r\nHost: x\r\n\r\n");
      if (r) CHECK((r->status == 400 || r->status == 405));
    }
    CheckServerStillServes();
  }

  TEST_CASE("deeply nested JSON is 400") {
    Api api;
    CheckBadJson(api, "/users", std::string(10000, '['));
    CheckBadJson(api, "/users", std::string(10000, '[') + std::string(10000, ']'));
    CheckBadJson(api, "/users", Repeat(R"({"a":)", 10000) + "1" + std::string(10000, '}'));
    CheckBadJson(api, "/users",
                 R"({"email":)" + std::string(5000, '[') + std::string(5000, ']') + R"(,"password":"x","name":"y"})");
    CheckBadJson(api, "/orders", R"({"items":)" + std::string(10000, '[') + std::string(10000, ']') + "}",
                 Admin().token);
    CheckBadJson(api, "/products", std::string(100000, '{'), Admin().token);
    CheckServerStillServes();
  }

  TEST_CASE("numbers too big for their field are 400") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 100, 10, "huge"), "id");
    User u = RegisterUser(api, "huge");
    for (const std::string& n : std::vector<std::string>{
             "1e400", "-1e400", "99999999999999999999", "-99999999999999999999", "9223372036854775807",
             "9223372036854775808", "18446744073709551615", "18446744073709551616", "1e18", "4294967296", "2147483648",
             "1" + std::string(400, '0')}) {
      CAPTURE(n);
      CheckBadJson(api, "/products",
                   R"({"sku":")" + Unique("huge") + R"(","name":"x","price_cents":)" + n + R"(,"stock":1})",
                   Admin().token);
      CheckBadJson(api, "/products",
                   R"({"sku":")" + Unique("huge") + R"(","name":"x","price_cents":1,"stock":)" + n + "}",
                   Admin().token);
      CheckBadJson(api, "/orders", R"({"items":[{"product_id":)" + std::to_string(p) + R"(,"quantity":)" + n + "}]}",
                   u.token);
      HttpResponse patch =
          api.Send("PATCH", "/products/" + std::to_string(p),
                   WithAuth(Admin().token, {{"Content-Type", "application/json"}}), R"({"stock":)" + n + "}");
      CHECK(patch.status == 400);
      // A product id nobody can have: 400, or 422 for an unknown product; never taken as another id.
      HttpResponse order = api.PostRaw("/orders", R"({"items":[{"product_id":)" + n + R"(,"quantity":1}]})",
                                       "application/json", u.token);
      CHECK((order.status == 400 || order.status == 422));
    }
    CHECK(StockOf(api, p) == 10);
    CHECK(api.Get("/orders", u.token).Json().at("items").as_array().empty());
  }

  TEST_CASE("invalid UTF-8 in a JSON string is 400") {
    Api api;
    for (std::string bad : {std::string("\xff"), std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
                            std::string("\xe2\x82"), std::string("ok\x80ok"), std::string("\xf8\x88\x80\x80\x80"),
                            std::string("\\ud800"), std::string("\\udc00x")}) {
      CAPTURE(bad);
      CheckBadJson(
          api, "/users",
          R"({"email":")" + Unique("utf") + R"(@e2e.test","password":"password-123","name":"a)" + bad + R"("})");
      CheckBadJson(api, "/users", R"({"email":"a)" + bad + R"(@e2e.test","password":"password-123","name":"x"})");
      CheckBadJson(api, "/products", R"({"sku":"s","name":")" + bad + R"(","price_cents":1,"stock":1})", Admin().token);
    }
  }

  TEST_CASE("path tricks are 404, not another resource and not 5xx") {
    Api api;
    std::int64_t p = Int(CreateProduct(api, 100, 10, "path"), "id");
    const std::string id = std::to_string(p);
    std::string encoded;
    for (char c : id) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      encoded += '%';
      encoded += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      encoded += kHex[static_cast<unsigned char>(c) & 0xf];
    }
    for (const std::string& target : std::vector<std::string>{
             std::string("/products/../users/1"), std::string("/products/%31"), std::string("//products"),
             std::string("/products/1/"), "/products/" + encoded, "//products/" + id, "/products/" + id + "/",
             "/products/./" + id, "/products/../products/" + id, "/products/%2e%2e/products/" + id,
             "/products/" + id + "%00", "/products/" + id + ";x", "/products/+" + id, "/products/" + id + ".json",
             "/products%2F" + id, "/users/me/", "/health/ready/", "/%2e%2e/etc/passwd",
             "/products/" + id + "/../" + id}) {
      CAPTURE(target);
      CheckProblem(api.Get(target), 404, "not_found");
    }
    CHECK(api.Get("/products/" + id).status == 200);
  }

  TEST_CASE("a slow or idle client does not hold up anybody else") {
    const Endpoint endpoint = TestServer::Get().endpoint();
    Connection half_header(endpoint, std::chrono::seconds(20));
    REQUIRE(half_header.SendRaw("GET /products HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    Connection half_body(endpoint, std::chrono::seconds(20));
    const std::string body =
        Dump(object{{"email", Unique("slow") + "@e2e.test"}, {"password", "password-123"}, {"name", "Slow Client"}});
    REQUIRE(half_body.SendRaw("POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 10)));
    std::vector<Connection> idle;
    for (int i = 0; i < 64; ++i) idle.emplace_back(endpoint, std::chrono::seconds(5));

    // Others are served promptly meanwhile.
    for (int i = 0; i < 5; ++i) {
      Api other(endpoint, std::chrono::seconds(3));
      auto start = std::chrono::steady_clock::now();
      CHECK(other.Get("/health/live").status == 200);
      CHECK(other.Get("/products?limit=1").status == 200);
      CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
    }
    // The slow ones still complete once they finish sending.
    REQUIRE(half_body.SendRaw(body.substr(10)));
    std::optional<HttpResponse> created = half_body.ReadResponse();
    REQUIRE(created.has_value());
    CHECK(created->status == 201);
    REQUIRE(half_header.SendRaw("1\r\n\r\n"));
    std::optional<HttpResponse> listed = half_header.ReadResponse();
    REQUIRE(listed.has_value());
    CHECK(listed->status == 200);

    // A request dripped a byte at a time is still one request.
    Connection drip(endpoint, std::chrono::seconds(10));
    const std::string request = "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Request-Id: drip-1\r\n\r\n";
    for (char c : request) {
      REQUIRE(drip.SendRaw(std::string_view(&c, 1)));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // pacing, not synchronisation
    }
    std::optional<HttpResponse> dripped = drip.ReadResponse();
    REQUIRE(dripped.has_value());
    CHECK(dripped->status == 200);
    CHECK(dripped->Header("X-Request-Id") == "drip-1");
  }

  TEST_CASE("HTTP/1.1 framing: pipelining, a GET body, Connection: close, HTTP/1.0, Expect: 100-continue") {
    const Endpoint endpoint = TestServer::Get().endpoint();
    SUBCASE("pipelined requests are answered in order") {
      Connection c(endpoint);
      REQUIRE(
          c.SendRaw("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-1\r\n\r\n"
                    "GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-2\r\n\r\n"
                    "GET /products?limit=1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-3\r\n\r\n"));
      for (auto [id, status] : {std::pair{"pipe-1", 200}, std::pair{"pipe-2", 404}, std::pair{"pipe-3", 200}}) {
        std::optional<HttpResponse> r = c.ReadResponse();
        REQUIRE(r.has_value());
        CHECK(r->Header("X-Request-Id") == id);
        CHECK(r->status == status);
      }
    }
    SUBCASE("a body on a GET is read and the connection stays in sync") {
      Api api(endpoint);
      HttpResponse r = api.Send("GET", "/products?limit=1", {{"Content-Type", "text/plain"}}, "hello");
      CHECK(r.status == 200);
      CHECK(api.Get("/health/live").status == 200);
    }
    SUBCASE("Connection: close is honoured") {
      Connection c(endpoint);
      HttpResponse r = c.Request("GET", "/health/live", {{"Connection", "close"}});
      CHECK(r.status == 200);
      CHECK(c.WaitForClose(std::chrono::seconds(5)));
    }
    SUBCASE("HTTP/1.0 is served") {
      std::optional<HttpResponse> r = RawExchange("GET /health/live HTTP/1.0\r\n\r\n");
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
    }
    SUBCASE("Expect: 100-continue") {
      Api api(endpoint);
      HttpResponse r = api.PostRaw(
          "/users",
          Dump(object{{"email", Unique("expect") + "@e2e.test"}, {"password", "password-123"}, {"name", "Expect"}}),
          "application/json", {}, {{"Expect", "100-continue"}});
      CHECK(r.status == 201);
    }
    SUBCASE("a chunked request body is accepted") {
      Api api(endpoint);
      std::string body =
          Dump(object{{"email", Unique("chunked") + "@e2e.test"}, {"password", "password-123"}, {"name", "Chunked"}});
      std::string chunked = "10\r\n" + body.substr(0, 16) + "\r\n" +
                            [&] {
                              char size[16];
                              std::snprintf(size, sizeof size, "%zx", body.size() - 16);
                              return std::string(size);
                            }() +
                            "\r\n" + body.substr(16) + "\r\n0\r\n\r\n";
      HttpResponse r =
          api.Send("POST", "/users", {{"Content-Type", "application/json"}, {"Transfer-Encoding", "chunked"}}, chunked);
      CHECK(r.status == 201);
    }
  }

  TEST_CASE("after all of this the server is ready and answered no 5xx") {
    Api api;
    CHECK(api.Get("/health/ready").status == 200);
    CHECK(ServerErrorsSeen() == 0);
  }
}

}  // namespace shop::e2e
