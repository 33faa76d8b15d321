#include "shop/http/wire_parser.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

namespace shop::http {
namespace {

/// Feeds `wire` the way a reader does (a buffer of max_buffered_bytes, filled `step` bytes at a time)
/// and returns how many bytes were left unconsumed after the message ended or failed.
template <bool kRequest>
std::size_t FeedLikeAReader(WireParser<kRequest>& parser, std::string_view wire, std::size_t step,
                            const WireLimits& limits = {}) {
  std::string buffer;
  std::size_t offset = 0;
  while (!parser.done() && !parser.failed()) {
    if (!buffer.empty()) buffer.erase(0, parser.Feed(buffer));
    if (parser.done() || parser.failed()) break;
    if (buffer.size() >= limits.max_buffered_bytes()) {
      parser.LineTooLong();
      break;
    }
    if (offset == wire.size()) {
      parser.FeedEof();
      break;
    }
    const std::size_t n = std::min({step, wire.size() - offset, limits.max_buffered_bytes() - buffer.size()});
    buffer.append(wire.substr(offset, n));
    offset += n;
  }
  return buffer.size() + (wire.size() - offset);
}

Request ParseRequest(std::string_view wire, int& status, std::size_t step = 1 << 20) {
  RequestParser parser(WireLimits{});
  FeedLikeAReader(parser, wire, step);
  status = parser.failed() ? parser.error().status : 0;
  return parser.done() ? std::move(parser.message()) : Request{};
}

int RequestStatus(std::string_view wire, std::size_t step = 1 << 20) {
  int status = 0;
  ParseRequest(wire, status, step);
  return status;
}

std::string Hex(std::size_t n) {
  char text[32];
  std::snprintf(text, sizeof text, "%zx", n);
  return text;
}

std::string Chunked(std::string_view body, std::size_t chunk, std::string_view extension = {}) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); i += chunk) {
    const std::string_view part = body.substr(i, chunk);
    out += Hex(part.size());
    out += extension;
    out += "\r\n";
    out += part;
    out += "\r\n";
  }
  return out + "0\r\n\r\n";
}

constexpr std::string_view kPost = "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";

}  // namespace

TEST_SUITE("wire parser") {
  TEST_CASE("a request in one piece and byte by byte gives the same message") {
    const std::string wire = std::string(kPost) + "Content-Length: 2\r\nX-A: 1\r\n\r\n{}";
    for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{1 << 20}}) {
      CAPTURE(step);
      int status = -1;
      Request r = ParseRequest(wire, status, step);
      CHECK(status == 0);
      CHECK(r.method == "POST");
      CHECK(r.target == "/orders");
      CHECK(r.headers.Get("x-a") == "1");
      CHECK(r.body == "{}");
    }
  }

  TEST_CASE("pipelined bytes after a message are left for the next one") {
    RequestParser parser(WireLimits{});
    const std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    const std::size_t used = parser.Feed(two);
    REQUIRE(parser.done());
    CHECK(two.substr(used) == "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  }

  TEST_CASE("a Transfer-Encoding other than exactly chunked is refused before any body is read") {
    // RFC 9112 §6.3 item 4: the length cannot be known, so the bytes after the header must never be
    // taken as the next request.
    const std::string smuggled = "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    for (std::string_view coding : {"gzip", "identity", "deflate", "compress", "chunked, gzip", "gzip, chunked",
                                    "chunked, chunked", "chunked,chunked", "xchunked", "chunkedx", "chunked;q=1",
                                    "\"chunked\"", "chunked identity", "", " ", ","}) {
      CAPTURE(std::string(coding));
      RequestParser parser(WireLimits{});
      const std::string wire = std::string(kPost) + "Transfer-Encoding: " + std::string(coding) + "\r\n\r\n" + smuggled;
      FeedLikeAReader(parser, wire, 1 << 20);
      CHECK(parser.failed());
      CHECK(parser.error().status == 400);
    }
  }

  TEST_CASE("two Transfer-Encoding fields, TE with Content-Length, and TE in HTTP/1.0 are refused") {
    CHECK(RequestStatus(std::string(kPost) + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n") ==
          400);
    CHECK(RequestStatus(std::string(kPost) + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") ==
          400);
    CHECK(RequestStatus(std::string(kPost) + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400);
    CHECK(RequestStatus(std::string(kPost) + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n") == 400);
    CHECK(RequestStatus("POST /orders HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400);
  }

  TEST_CASE("chunked is understood whatever its case and surrounding whitespace") {
    for (std::string_view coding : {"chunked", "Chunked", "CHUNKED", " chunked ", "\tchunked"}) {
      CAPTURE(std::string(coding));
      int status = -1;
      Request r = ParseRequest(std::string(kPost) + "Transfer-Encoding: " + std::string(coding) + "\r\n\r\n" +
                                   Chunked("{\"a\":1}", 3),
                               status);
      CHECK(status == 0);
      CHECK(r.body == "{\"a\":1}");
    }
  }

  TEST_CASE("a quoted chunk extension running past its line is refused at once, even dripped") {
    // Beast reads a quoted value across CRLF and would re-parse the line on every byte (quadratic).
    std::string wire = std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n3;a=b;c=\"d\r\nabc\r\n";
    while (wire.size() < 16000) wire += "more bytes that are not a closing quote ";
    RequestParser parser(WireLimits{});
    const std::size_t left = FeedLikeAReader(parser, wire, 1);
    CHECK(parser.failed());
    CHECK(parser.error().status == 400);
    CHECK(left > 15000);  // refused as soon as the line ended, not after reading on
    // The same on the last chunk, once its trailer section has ended.
    std::string last = std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n0;a=\"T\r\n\r\n";
    while (last.size() < 16000) last += "more bytes that are not a closing quote ";
    RequestParser last_parser(WireLimits{});
    CHECK(FeedLikeAReader(last_parser, last, 1) > 15000);
    CHECK(last_parser.failed());
    // A last chunk whose trailer section is still arriving is not refused for it.
    RequestParser waiting(WireLimits{});
    waiting.Feed(std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n0;a=b\r\nX-T: 1\r\n");
    CHECK(!waiting.failed());
    // A quoted extension that closes on its line is fine, however it arrives.
    for (std::size_t step : {std::size_t{1}, std::size_t{5}}) {
      int status = -1;
      Request ok = ParseRequest(std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n3;a=\"b c\";d\r\nabc\r\n0\r\n\r\n",
                                status, step);
      CHECK(status == 0);
      CHECK(ok.body == "abc");
    }
  }

  TEST_CASE("a chunk line too long for the buffer is refused, however it is split") {
    const std::string wire = std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n1;e=" + std::string(1 << 20, 'a');
    for (std::size_t step : {std::size_t{1000}, std::size_t{1 << 20}}) {
      RequestParser parser(WireLimits{});
      const std::size_t left = FeedLikeAReader(parser, wire, step);
      CHECK(parser.failed());
      CHECK(parser.error().status == 413);
      CHECK(left > (1 << 19));  // refused long before the line ended
    }
  }

  TEST_CASE("chunk framing beyond its allowance is refused, ordinary small chunks are not") {
    const std::string body(54, 'b');
    // Each extension fits the buffer, but together they cost far more than the body.
    CHECK(RequestStatus(std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n" +
                        Chunked(body, 1, ";e=" + std::string(4000, 'a'))) == 413);
    CHECK(RequestStatus(std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n" +
                        Chunked(body, 1, ";e=" + std::string(1000, 'a'))) == 413);
    // Leading zeros in chunk sizes are framing too.
    CHECK(RequestStatus(std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n" + std::string(16000, '0') + "1\r\nb\r\n" +
                        std::string(8000, '0') + "1\r\nb\r\n0\r\n\r\n") == 413);
    int status = -1;
    Request ok = ParseRequest(std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n" + Chunked(body, 1, ";a=b"),
                              status);
    CHECK(status == 0);
    CHECK(ok.body == body);
    Request big = ParseRequest(
        std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n" + Chunked(std::string(1 << 20, 'x'), 4096), status);
    CHECK(status == 0);
    CHECK(big.body.size() == (1u << 20));
  }

  TEST_CASE("a body over the limit is refused, declared or chunked") {
    CHECK(RequestStatus(std::string(kPost) + "Content-Length: 1048577\r\n\r\n") == 413);
    CHECK(RequestStatus(std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n" +
                        Chunked(std::string((1 << 20) + 1, 'x'), 65536)) == 413);
  }

  TEST_CASE("trailer fields are dropped, never merged into the header") {
    int status = -1;
    Request r = ParseRequest(
        "GET /users/me HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        "Authorization: Bearer stolen\r\nContent-Type: text/plain\r\nApi-Version: 2\r\nX-Request-Id: trailer\r\n"
        "Host: evil\r\n\r\n",
        status, 7);
    CHECK(status == 0);
    CHECK(!r.headers.Has("Authorization"));
    CHECK(!r.headers.Has("Content-Type"));
    CHECK(!r.headers.Has("Api-Version"));
    CHECK(!r.headers.Has("X-Request-Id"));
    CHECK(!r.headers.Has("Content-Length"));
    CHECK(r.headers.Get("Host") == "x");
    CHECK(r.headers.Get("Transfer-Encoding") == "chunked");
  }

  TEST_CASE("framing fields in a trailer are refused") {
    for (std::string_view field : {"Transfer-Encoding: gzip", "Content-Length: 7"}) {
      CAPTURE(std::string(field));
      CHECK(RequestStatus("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + std::string(field) +
                          "\r\n\r\n") == 400);
    }
  }

  TEST_CASE("a trailer section too large for the buffer is refused") {
    std::string trailer;
    while (trailer.size() < 64 * 1024) trailer += "X-T-" + std::to_string(trailer.size()) + ": " + std::string(60, 'v') + "\r\n";
    CHECK(RequestStatus("GET /users/me HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + trailer +
                        "\r\n") == 413);
  }

  TEST_CASE("a header section over its limit is 431") {
    CHECK(RequestStatus("GET / HTTP/1.1\r\nX: " + std::string(17 * 1024, 'a') + "\r\n\r\n") == 431);
    CHECK(RequestStatus("GET / HTTP/1.1\r\nX: " + std::string(17 * 1024, 'a') + "\r\n\r\n", 100) == 431);
  }

  TEST_CASE("many header fields that together exceed the limit are 431, however they arrive") {
    std::string many = "GET /products HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 400; ++i) many += "X-Header-" + std::to_string(i) + ": " + std::string(60, 'v') + "\r\n";
    many += "\r\n";
    for (std::size_t step : {std::size_t{1}, std::size_t{1000}, std::size_t{16384}, std::size_t{1 << 20}}) {
      CAPTURE(step);
      CHECK(RequestStatus(many, step) == 431);
    }
    // Just under the limit is fine in any pieces.
    std::string fits = "GET /products HTTP/1.1\r\nHost: x\r\n";
    while (fits.size() < 16 * 1024 - 100) fits += "X-F-" + std::to_string(fits.size()) + ": " + std::string(40, 'f') + "\r\n";
    fits += "\r\n";
    for (std::size_t step : {std::size_t{1}, std::size_t{1000}, std::size_t{16384}}) CHECK(RequestStatus(fits, step) == 0);
  }

  TEST_CASE("a refused request keeps what arrived of its header, for the log line") {
    RequestParser parser(WireLimits{});
    parser.Feed("POST /x HTTP/1.1\r\nX-Request-Id: keep-me\r\nTransfer-Encoding: gzip\r\n\r\n");
    REQUIRE(parser.failed());
    CHECK(parser.message().headers.Get("X-Request-Id") == "keep-me");
  }

  TEST_CASE("a connection closed mid-request is a failure, not an empty request") {
    RequestParser parser(WireLimits{});
    parser.Feed("POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    parser.FeedEof();
    CHECK(parser.failed());
    CHECK(!parser.done());
  }

  TEST_CASE("responses: length by Content-Length, chunked, or the close, trailers dropped") {
    ResponseParser by_length(WireLimits{});
    by_length.Feed("HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n{}");
    REQUIRE(by_length.done());
    CHECK(by_length.message().status == 201);
    CHECK(by_length.message().body == "{}");
    CHECK(by_length.keep_alive());

    ResponseParser chunked(WireLimits{});
    chunked.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nSet-Cookie: x=1\r\n\r\n");
    REQUIRE(chunked.done());
    CHECK(chunked.message().body == "ok");
    CHECK(!chunked.message().headers.Has("Set-Cookie"));

    ResponseParser to_close(WireLimits{});
    to_close.Feed("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
    CHECK(!to_close.done());
    to_close.FeedEof();
    REQUIRE(to_close.done());
    CHECK(to_close.message().body == "until the end");
    CHECK(!to_close.keep_alive());
  }

  TEST_CASE("a response with an interim or impossible status is refused") {
    for (std::string_view wire : {"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\n\r\n",
                                  "HTTP/1.1 002 Odd\r\nContent-Length: 0\r\n\r\n",
                                  "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n"}) {
      CAPTURE(std::string(wire));
      ResponseParser parser(WireLimits{});
      parser.Feed(wire);
      CHECK(parser.failed());
    }
    ResponseParser ok(WireLimits{});
    ok.Feed("HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n");
    CHECK(ok.done());
  }

  TEST_CASE("a last chunk split after its first byte is read on (Beast 1.81 asserted here)") {
    RequestParser parser(WireLimits{});
    const std::string head = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n";
    std::string buffer = head + "0\r\nX";
    buffer.erase(0, parser.Feed(buffer));
    buffer += "-T: 1\r\n\r\n";
    buffer.erase(0, parser.Feed(buffer));
    CHECK(parser.done());
    CHECK(parser.message().body == "a");
  }

  TEST_CASE("responses are bounded like requests") {
    WireLimits limits;
    limits.max_body_bytes = 1024;
    ResponseParser big(limits);
    big.Feed("HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n");
    CHECK(big.failed());
    ResponseParser line(WireLimits{});
    const std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(1 << 20, 'e');
    FeedLikeAReader(line, wire, 4096);
    CHECK(line.failed());
  }

  // Found by tests/fuzz (response_fuzz): Beast framed the first by its Content-Length and the second as
  // chunked, where the coding says the body runs to the close (RFC 9112 §6.3): the next response would
  // be read from the wrong byte.
  TEST_CASE("a response with Transfer-Encoding other than chunked, or with Content-Length, is refused") {
    for (std::string_view wire : {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
                                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked/x\r\n\r\n2\r\n{}\r\n0\r\n\r\n"}) {
      CAPTURE(std::string(wire));
      ResponseParser parser(WireLimits{});
      FeedLikeAReader(parser, std::string(wire) + "HTTP/1.1 200 OK\r\n\r\n", 1 << 20);
      CHECK(parser.failed());
      CHECK(!parser.done());
    }
  }

  // Found by tests/fuzz (request_fuzz): a `Connection: close` trailer closed the connection; whether
  // it stays open is the header section's to say, like everything else a trailer might control.
  TEST_CASE("a Connection field in a trailer does not change keep-alive") {
    RequestParser parser(WireLimits{});
    FeedLikeAReader(parser,
                    std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nConnection: close\r\n\r\n",
                    1 << 20);
    REQUIRE(parser.done());
    CHECK(parser.keep_alive());
  }

  // Found by tests/fuzz (chunked_fuzz): Beast took any byte in a quoted chunk extension; a bare LF there
  // ends the chunk line for a proxy that accepts LF as a line end, and the two read different bodies.
  TEST_CASE("control characters in a quoted chunk extension are refused") {
    using namespace std::string_view_literals;  // the NUL must stay in
    for (std::string_view ext : {";a=\"x\ny\""sv, ";a=\"\x00\""sv, ";a=\"x\\\ny\""sv, ";a=\"\x7f\""sv}) {
      CAPTURE(std::string(ext));
      CHECK(RequestStatus(std::string(kPost) + "Transfer-Encoding: chunked\r\n\r\n2" + std::string(ext) +
                          "\r\n{}\r\n0\r\n\r\n") == 400);
    }
    CHECK(RequestStatus(std::string(kPost) +
                        "Transfer-Encoding: chunked\r\n\r\n2;a=\"b\tc \\\"\xff\"\r\n{}\r\n0\r\n\r\n") == 0);
  }

  // Found by tests/fuzz (response_fuzz): RFC 9112 §6.1, a message with Transfer-Encoding in HTTP/1.0
  // ends its connection, whatever its Connection field says.
  TEST_CASE("an HTTP/1.0 response with Transfer-Encoding does not keep the connection") {
    ResponseParser parser(WireLimits{});
    FeedLikeAReader(parser, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    1 << 20);
    REQUIRE(parser.done());
    CHECK(!parser.keep_alive());
  }
}

}  // namespace shop::http
