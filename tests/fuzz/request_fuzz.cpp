// Request parsing and the App pipeline up to the handlers, as the server runs them.
//
// Input: byte 0 picks the read sizes (ReadSchedule), byte 1 the limits (LimitsFrom), the rest is what
// a client sends on one connection, with `$USER_TOKEN` / `$ADMIN_TOKEN` replaced by valid bearer tokens.
// Requests are read as shop::http_server reads them (bounded buffer, pipelining, LineTooLong); each
// complete one goes through App::Handle on an App carrying the real routes of all three modules
// (their HTTP adapters over in-memory stubs); a refused one is answered with App::Reject and ends
// the connection, as does a request that does not keep it alive.
//
// Invariants (a violation aborts):
// - a parser is never both done and failed; once either, it consumes nothing more;
// - a refused request has status 400, 413 or 431 and a code; App::Reject answers with that status;
// - an accepted request: its header section and body are within the limits; its framing is exactly
//   what its header section says (Content-Length, or chunked read by the reference decoder: the same
//   body, ending at the same byte), so the next request starts where a strict reader would start it;
//   Transfer-Encoding only as the single coding `chunked`, never with Content-Length, never in
//   HTTP/1.0; every field of the message was written in the header section (none comes from a
//   trailer); whether the connection stays open follows from the header section alone;
// - App::Handle answers with a 2xx-4xx the API uses, never 5xx, with Api-Version, a valid
//   X-Request-Id, and a JSON body (a problem with the same status) whenever it says JSON.

#include <cstddef>
#include <cstdint>
#include <string>

#include "common.h"
#include "shop/http/app.h"
#include "shop/orders/http.h"
#include "shop/products/http.h"
#include "shop/users/http.h"
#include "stub_modules.h"

namespace {

using namespace shop;
using fuzz::Excerpt;

struct World {
  fuzz::Tokens tokens;
  fuzz::StubUsers users{auth::JwksJson({tokens.key().public_key()})};
  fuzz::StubProducts products;
  fuzz::StubOrders orders;
  http::App app{"shop", "fuzz"};

  World() {
    users::AddRoutes(app.router(), users, tokens.verifier());
    products::AddRoutes(app.router(), products, tokens.verifier());
    orders::AddRoutes(app.router(), orders, tokens.verifier());
    app.Seal();
  }
};

World* world = nullptr;

constexpr int kMaxRequestsPerConnection = 16;

/// The checks on a request the parser accepted, `begin` being its first byte in the wire.
void CheckAccepted(http::RequestParser& parser, const fuzz::Connection& connection, std::size_t begin,
                   const http::WireLimits& limits) {
  const std::string_view wire = connection.wire();
  const http::Request& request = parser.message();
  const std::string where = " in request at offset " + std::to_string(begin) + ": " + Excerpt(wire.substr(begin));
  FUZZ_CHECK(parser.header_done(), "done before its header" + where);
  FUZZ_CHECK(!request.method.empty() && !request.target.empty(), "no method or target" + where);
  FUZZ_CHECK(request.body.size() <= limits.max_body_bytes,
             "a body of " + std::to_string(request.body.size()) + " bytes passed the limit" + where);

  const std::size_t header = fuzz::HeaderSectionLength(wire, begin);
  FUZZ_CHECK(header != std::string_view::npos, "accepted without a complete header section" + where);
  FUZZ_CHECK(header <= limits.max_header_bytes,
             "a header section of " + std::to_string(header) + " bytes passed the limit" + where);
  std::string culprit;
  FUZZ_CHECK(fuzz::FieldsComeFrom(request.headers, wire.substr(begin, header), &culprit),
             "field '" + Excerpt(culprit) + "' is not in the header section" + where);

  const auto codings = fuzz::TransferCodings(request.headers);
  const std::size_t lengths = fuzz::CountFields(request.headers, "Content-Length");
  const std::size_t body_begin = begin + header;
  if (!codings.empty() || fuzz::CountFields(request.headers, "Transfer-Encoding") > 0) {
    FUZZ_CHECK(parser.version() >= 11, "Transfer-Encoding accepted in HTTP/1.0" + where);
    FUZZ_CHECK(lengths == 0, "Transfer-Encoding accepted with Content-Length" + where);
    FUZZ_CHECK(codings.size() == 1 && fuzz::EqualsIgnoreCase(codings[0], "chunked"),
               "a Transfer-Encoding other than chunked accepted" + where);
    const fuzz::ChunkedReference ref = fuzz::DecodeChunked(wire.substr(body_begin));
    FUZZ_CHECK(ref.result == fuzz::ChunkedReference::Result::kComplete,
               "a chunked body RFC 9112 refuses was accepted (" + ref.why + ")" + where);
    FUZZ_CHECK(request.body == ref.body, "the chunked body differs from the reference's" + where);
    FUZZ_CHECK(connection.consumed() == body_begin + ref.end,
               "the chunked body ends at " + std::to_string(connection.consumed() - body_begin) +
                   " but the reference ends it at " + std::to_string(ref.end) + where);
  } else {
    const std::uint64_t length = parser.content_length().value_or(0);
    FUZZ_CHECK(lengths == 0 || parser.content_length().has_value(), "Content-Length present but not used" + where);
    FUZZ_CHECK(request.body.size() == length, "body size is not the Content-Length" + where);
    FUZZ_CHECK(connection.consumed() == body_begin + length, "the message does not end after its body" + where);
  }
  FUZZ_CHECK(parser.keep_alive() == fuzz::KeepAliveFromHeader(request.headers, parser.version()),
             "keep-alive is not what the header section says" + where);
  FUZZ_CHECK(parser.Feed("GET / HTTP/1.1\r\n\r\n") == 0, "a done parser consumed more" + where);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::QuietLogs();
  world = new World();  // lives for the process; never destroyed (the harness may run in any thread order)
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  World& w = *world;
  w.tokens.Refresh();
  const http::WireLimits limits = fuzz::LimitsFrom(data[1]);
  std::string wire(reinterpret_cast<const char*>(data + 2), size - 2);
  fuzz::ReplaceAll(wire, "$USER_TOKEN", w.tokens.user());
  fuzz::ReplaceAll(wire, "$ADMIN_TOKEN", w.tokens.admin());

  fuzz::Connection connection(wire, data[0]);
  for (int i = 0; i < kMaxRequestsPerConnection && !connection.exhausted(); ++i) {
    http::RequestParser parser(limits);
    const std::size_t begin = connection.consumed();
    const auto end = connection.Read(parser, limits, /*eof_ends_message=*/false);
    if (end == fuzz::Connection::End::kClosed) {  // the client left mid-request: nobody to answer
      FUZZ_TRACE("request %d at %zu: incomplete when the input ends\n", i, begin);
      break;
    }
    if (end == fuzz::Connection::End::kFailed) {
      const http::WireError& e = parser.error();
      const std::string where = " (" + std::to_string(e.status) + " " + std::string(e.code) + ": " + e.detail + ")";
      FUZZ_CHECK(e.status == 400 || e.status == 413 || e.status == 431, "a refusal that is not 400/413/431" + where);
      FUZZ_CHECK(!e.code.empty() && !e.detail.empty(), "a refusal without code or detail" + where);
      FUZZ_CHECK(parser.Feed("x") == 0, "a failed parser consumed more" + where);
      FUZZ_TRACE("request %d at %zu: refused %d %s: %s\n", i, begin, e.status, std::string(e.code).c_str(),
                 e.detail.c_str());
      const http::Response r = w.app.Reject(parser.message(), e.status, e.code, e.detail);
      fuzz::CheckResponse(r, "App::Reject" + where);
      FUZZ_CHECK(r.status == e.status, "App::Reject changed the status" + where);
      break;  // the server closes the connection after a refusal
    }
    CheckAccepted(parser, connection, begin, limits);
    const bool keep_alive = parser.keep_alive();
    http::Request& request = parser.message();
    const http::Response r = w.app.Handle(request);
    FUZZ_TRACE("request %d at %zu: %s %s, %zu body bytes -> %d %s%s\n", i, begin, request.method.c_str(),
               Excerpt(request.target, 80).c_str(), request.body.size(), r.status, Excerpt(r.body, 160).c_str(),
               keep_alive ? "" : " (connection closes)");
    fuzz::CheckResponse(r, "App::Handle " + request.method + " " + Excerpt(request.target, 80));
    if (!keep_alive) break;
  }
  return 0;
}
