// The edge against attacks on HTTP framing, taken from public reports on other servers and gateways:
// request smuggling through transfer codings, unbounded chunk extensions, trailers posing as header
// fields, a client's request opening a breaker for everybody, and an answer lost to a reset while the
// client is still sending. Runs against the single binary and, through the gateway, the split layout.
#include <doctest/doctest.h>

#include <charconv>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api_client.h"
#include "server_harness.h"

namespace shop::e2e {
namespace {

using boost::json::object;

std::string Hex(std::size_t n) {
  char text[32];
  std::snprintf(text, sizeof text, "%zx", n);
  return text;
}

std::string Chunked(std::string_view body, std::size_t chunk, std::string_view extension = {}) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); i += chunk) {
    const std::string_view part = body.substr(i, chunk);
    out += Hex(part.size()) + std::string(extension) + "\r\n" + std::string(part) + "\r\n";
  }
  return out + "0\r\n\r\n";
}

/// The edge process's peak resident memory, from its own /metrics.
std::int64_t PeakMemoryBytes() {
  Api api;
  const std::string body = api.Get("/metrics").body;
  constexpr std::string_view kName = "\nprocess_max_resident_memory_bytes ";
  const auto at = body.find(kName);
  REQUIRE(at != std::string::npos);
  std::int64_t value = 0;
  const char* begin = body.data() + at + kName.size();
  std::from_chars(begin, body.data() + body.size(), value);
  return value;
}

/// The answer to `bytes` on a fresh connection and, with `expect_close`, whether the server then
/// closed it by itself without answering anything more (the bytes after a refused header must never
/// run as another request). The server closes after its lingering read goes quiet (2 s).
struct Exchange {
  std::optional<HttpResponse> first;
  bool closed_after = false;
};
Exchange Send(std::string_view bytes, bool expect_close = true) {
  Connection c(TestServer::Get().endpoint(), std::chrono::seconds(20));
  c.SendRaw(bytes);
  Exchange out;
  out.first = c.ReadResponse();
  if (out.first && expect_close) {
    try {
      out.closed_after = !c.ReadResponse().has_value();
    } catch (const HttpError&) {
      out.closed_after = false;  // still open when the connection's timeout ran out
    }
  }
  return out;
}

void CheckRefusedAndClosed(std::string_view bytes, std::string_view label, int status = 0) {
  CAPTURE(std::string(label));
  Exchange e = Send(bytes);
  REQUIRE(e.first.has_value());
  INFO("response: ", e.first->status, " ", e.first->body.substr(0, 300));
  CHECK(e.first->status >= 400);
  CHECK(e.first->status < 500);
  if (status != 0) CHECK(e.first->status == status);
  CHECK(e.first->Header("Api-Version") == "1");
  CHECK(e.closed_after);
}

/// A complete `POST /orders` for one unit of `product`, as `token`: what a smuggler hides in a body.
std::string OrderRequest(std::int64_t product, std::string_view token) {
  const std::string body = R"({"items":[{"product_id":)" + std::to_string(product) + R"(,"quantity":1}]})";
  return "POST /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(token) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::size_t OrdersOf(Api& api, std::string_view token) {
  return api.Get("/orders", token).Json().at("items").as_array().size();
}

}  // namespace

TEST_SUITE("edge") {
  TEST_CASE("a transfer coding other than chunked is 400 and closes, the bytes after it never run") {
    Api api;
    const std::int64_t product = Int(CreateProduct(api, 100, 5, "smuggle"), "id");
    const User buyer = RegisterUser(api, "smuggle");
    const std::string hidden = OrderRequest(product, buyer.token);
    for (std::string coding : {"gzip", "identity", "deflate", "chunked, gzip", "gzip, chunked", "chunked, chunked",
                               "xchunked", "chunked;q=1", "\"chunked\"", ",", " "}) {
      CheckRefusedAndClosed("POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Transfer-Encoding: " + coding + "\r\n\r\n" + hidden,
                            "Transfer-Encoding: " + coding, 400);
    }
    CheckRefusedAndClosed("POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n" + hidden,
                          "two Transfer-Encoding fields", 400);
    CheckRefusedAndClosed("POST /products HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden,
                          "Transfer-Encoding in HTTP/1.0", 400);
    CheckRefusedAndClosed("GET /products HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" + hidden,
                          "a GET with a transfer coding", 400);
    CHECK(StockOf(api, product) == 5);
    CHECK(OrdersOf(api, buyer.token) == 0);
  }

  TEST_CASE("chunked is understood whatever its case") {
    Api api;
    for (std::string coding : {"Chunked", "CHUNKED", " chunked"}) {
      CAPTURE(coding);
      const std::string body = Dump(object{{"email", Unique("case") + "@e2e.test"}, {"password", "password-123"},
                                           {"name", "Case"}});
      HttpResponse r = api.Send("POST", "/users",
                                {{"Content-Type", "application/json"}, {"Transfer-Encoding", coding}},
                                Chunked(body, 7));
      CHECK(r.status == 201);
    }
  }

  TEST_CASE("chunk extensions are bounded: an endless chunk line is refused without growing memory") {
    const std::int64_t before = PeakMemoryBytes();
    Connection c(TestServer::Get().endpoint(), std::chrono::seconds(30));
    c.SendRaw(
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1;e=");
    const std::string block(1 << 20, 'a');
    int sent_mib = 0;
    while (sent_mib < 64 && c.SendRaw(block)) ++sent_mib;
    std::optional<HttpResponse> r = c.ReadResponse();
    REQUIRE(r.has_value());
    CHECK(r->status == 413);
    CHECK(c.WaitForClose(std::chrono::seconds(10)));
    const std::int64_t growth = PeakMemoryBytes() - before;
    INFO("sent ", sent_mib, " MiB; peak memory grew by ", growth, " bytes");
    CHECK(growth < 16 * 1024 * 1024);
  }

  TEST_CASE("chunk framing is bounded with the body: many long extensions on a small body are refused") {
    Api api;
    const std::string body = Dump(object{{"email", Unique("ext") + "@e2e.test"}, {"password", "password-123"},
                                         {"name", "Extensions"}});
    const std::string head =
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    // The issue's example: one chunk a byte, each with a 1 MiB extension.
    CheckRefusedAndClosed(head + Chunked(body.substr(0, 4), 1, ";e=" + std::string(1 << 20, 'a')), "1 MiB extensions",
                          413);
    // Lines that each fit the buffer, but cost far more than the data they frame.
    CheckRefusedAndClosed(head + Chunked(body, 1, ";e=" + std::string(2000, 'a')), "2 KB extensions", 413);
    CheckRefusedAndClosed(head + std::string(16000, '0') + "1\r\n{\r\n" + std::string(16000, '0') + "1\r\n}\r\n0\r\n\r\n",
                          "leading zeros", 413);
    // Small chunks with short extensions are ordinary and accepted.
    HttpResponse ok = api.Send("POST", "/users", {{"Content-Type", "application/json"}, {"Transfer-Encoding", "chunked"}},
                               Chunked(body, 1, ";a=b"));
    CHECK(ok.status == 201);
  }

  TEST_CASE("trailer fields are not header fields: no authentication, media type or version from them") {
    Api api;
    const User user = RegisterUser(api, "trailer");
    auto send = [&](std::string_view head, std::string_view chunks, std::string_view trailer) {
      return Send(std::string(head) + "Transfer-Encoding: chunked\r\n\r\n" + std::string(chunks) + "0\r\n" +
                  std::string(trailer) + "\r\n")
          .first;
    };
    std::optional<HttpResponse> me =
        send("GET /users/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", "", "Authorization: Bearer " + user.token + "\r\n");
    REQUIRE(me.has_value());
    CHECK(me->status == 401);

    const std::string body = Dump(object{{"email", Unique("trailer") + "@e2e.test"}, {"password", "password-123"},
                                         {"name", "Trailer"}});
    std::optional<HttpResponse> typed = send("POST /users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
                                             Hex(body.size()) + "\r\n" + body + "\r\n",
                                             "Content-Type: application/json\r\n");
    REQUIRE(typed.has_value());
    CHECK(typed->status == 415);

    std::optional<HttpResponse> versioned = send("GET /products?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
                                                 "", "Api-Version: 2\r\nX-Request-Id: from-trailer\r\n");
    REQUIRE(versioned.has_value());
    CHECK(versioned->status == 200);
    CHECK(versioned->Header("X-Request-Id") != "from-trailer");
  }

  TEST_CASE("a large trailer section is refused without growing memory") {
    const std::int64_t before = PeakMemoryBytes();
    std::string trailer;
    while (trailer.size() < 8 * 1024 * 1024) trailer += "X-T-" + std::to_string(trailer.size()) + ": " + std::string(90, 'v') + "\r\n";
    CheckRefusedAndClosed("POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" + trailer + "\r\n",
                          "8 MiB of trailer fields");
    CHECK(PeakMemoryBytes() - before < 16 * 1024 * 1024);
  }

  TEST_CASE("an error answer sent while the body is still arriving reaches the client") {
    // RFC 9112 §9.6: the server half-closes and reads on, so the client can finish sending and read.
    for (std::size_t size : {std::size_t{(1 << 20) + 1}, std::size_t{4 << 20}}) {
      CAPTURE(size);
      Connection c(TestServer::Get().endpoint(), std::chrono::seconds(30));
      const std::string head = "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                               std::to_string(size) + "\r\n\r\n";
      CHECK(c.SendRaw(head + std::string(size, ' ')));
      std::optional<HttpResponse> r = c.ReadResponse();
      REQUIRE(r.has_value());
      CheckProblem(*r, 413, "payload_too_large");
    }
    // The same when only the decoded body finds out it is too large.
    Connection c(TestServer::Get().endpoint(), std::chrono::seconds(30));
    CHECK(c.SendRaw("POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                    Chunked(std::string(2 << 20, ' '), 64 * 1024)));
    std::optional<HttpResponse> r = c.ReadResponse();
    REQUIRE(r.has_value());
    CheckProblem(*r, 413, "payload_too_large");
  }

  TEST_CASE("nothing a client sends turns into 503 for the others") {
    // Through the gateway these reach (or would reach) the users service: none may count as its
    // failure. Every variant is sent more times than any breaker's threshold.
    Api api;
    const User user = RegisterUser(api, "breaker");
    std::vector<std::string> attacks;
    std::string trailer;
    while (trailer.size() < 4 * 1024 * 1024) trailer += "X-T-" + std::to_string(trailer.size()) + ": " + std::string(90, 'v') + "\r\n";
    attacks.push_back("POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" + trailer + "\r\n");
    // Headers just under the edge's limit, which the gateway's own headers would push over the
    // service's limit if the two disagreed.
    std::string fat = "POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n";
    while (fat.size() < 16 * 1024 - 200) fat += "X-F-" + std::to_string(fat.size()) + ": " + std::string(50, 'f') + "\r\n";
    attacks.push_back(fat + "\r\n{}");
    attacks.push_back("POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(1 << 20) + "\r\n\r\n" + std::string(1 << 20, ' '));
    attacks.push_back("POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"a\":[[[[");
    for (const std::string& attack : attacks) {
      for (int i = 0; i < 8; ++i) {
        Exchange e = Send(attack, false);
        if (e.first) {
          INFO("attack ", attack.substr(0, 60), " got ", e.first->status, " ", e.first->body.substr(0, 200));
          CHECK(e.first->status < 500);
        }
      }
      HttpResponse login = api.Post("/auth/token", object{{"email", user.email}, {"password", user.password}});
      CHECK(login.status == 200);
      CHECK(api.Get("/users/me", user.token).status == 200);
    }
  }
}

}  // namespace shop::e2e
