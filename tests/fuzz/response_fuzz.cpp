// Response parsing as the HTTP client (shop::http_client) does it: ResponseParser fed from a bounded
// buffer, FeedEof when the peer closes, several responses on one kept-alive connection.
//
// Input: byte 0 picks the read sizes (ReadSchedule), byte 1 the limits (LimitsFrom; below 0x80 the
// client's defaults: 64 KiB of header, 8 MiB of body), the rest is what the server sends before it
// closes the connection.
//
// Invariants (a violation aborts):
// - a parser is never both done and failed; after FeedEof it is one of them; once either, it
//   consumes nothing more; a refusal is 400, 413 or 431;
// - a complete response: a final status, 200..599 (interim and impossible ones are refused); header section and body within the
//   limits; every field from the header section (never a trailer); framed as RFC 9112 §6.3 says for a
//   response: no body for 1xx, 204 and 304; chunked: the reference decoder's body, ending at the same
//   byte; Content-Length: that many bytes; neither: to the close. So the next response on the
//   connection starts where it should. Transfer-Encoding is accepted as the request parser accepts
//   it: only the single coding `chunked`, never with Content-Length;
// - the connection is kept for another response only if the header section allows it and the body
//   did not run to the close (and never after Transfer-Encoding in HTTP/1.0, RFC 9112 §6.1).

#include <cstddef>
#include <cstdint>
#include <string>

#include "common.h"

namespace {

using namespace shop;
using fuzz::Excerpt;

constexpr int kMaxResponsesPerConnection = 16;

http::WireLimits ClientLimits() {
  http::WireLimits limits;  // as shop::http_client::ClientOptions sets them by default
  limits.max_body_bytes = 8 * 1024 * 1024;
  limits.max_header_bytes = 64 * 1024;
  return limits;
}

void CheckComplete(http::ResponseParser& parser, const fuzz::Connection& connection, std::size_t begin,
                   const http::WireLimits& limits) {
  const std::string_view wire = connection.wire();
  const http::Response& response = parser.message();
  const std::string where = " in response at offset " + std::to_string(begin) + ": " + Excerpt(wire.substr(begin));
  FUZZ_CHECK(parser.header_done(), "done before its header" + where);
  // Beast takes any three digits; the parser refuses all but final answers (RFC 9110 §15).
  FUZZ_CHECK(response.status >= 200 && response.status <= 599, "status " + std::to_string(response.status) + where);
  FUZZ_CHECK(response.body.size() <= limits.max_body_bytes, "a body beyond the limit" + where);
  const std::size_t header = fuzz::HeaderSectionLength(wire, begin);
  FUZZ_CHECK(header != std::string_view::npos, "complete without a complete header section" + where);
  FUZZ_CHECK(header <= limits.max_header_bytes,
             "a header section of " + std::to_string(header) + " bytes passed the limit" + where);
  std::string culprit;
  FUZZ_CHECK(fuzz::FieldsComeFrom(response.headers, wire.substr(begin, header), &culprit),
             "field '" + Excerpt(culprit) + "' is not in the header section" + where);

  const std::size_t body_begin = begin + header;
  const auto codings = fuzz::TransferCodings(response.headers);
  const bool has_te = fuzz::CountFields(response.headers, "Transfer-Encoding") > 0;
  bool to_close = false;
  if (response.status / 100 == 1 || response.status == 204 || response.status == 304) {
    FUZZ_CHECK(response.body.empty() && connection.consumed() == body_begin, "a body on a bodiless status" + where);
  } else if (has_te) {
    FUZZ_CHECK(codings.size() == 1 && fuzz::EqualsIgnoreCase(codings[0], "chunked") &&
                   fuzz::CountFields(response.headers, "Content-Length") == 0,
               "a Transfer-Encoding other than chunked, or with Content-Length, accepted" + where);
    const fuzz::ChunkedReference ref = fuzz::DecodeChunked(wire.substr(body_begin));
    FUZZ_CHECK(ref.result == fuzz::ChunkedReference::Result::kComplete,
               "a chunked body RFC 9112 refuses was accepted (" + ref.why + ")" + where);
    FUZZ_CHECK(response.body == ref.body, "the chunked body differs from the reference's" + where);
    FUZZ_CHECK(connection.consumed() == body_begin + ref.end,
               "the chunked body ends elsewhere than the reference's" + where);
  } else if (!parser.content_length()) {
    to_close = true;
    FUZZ_CHECK(connection.consumed() == wire.size() && response.body == wire.substr(body_begin),
               "a body that runs to the close is not all the rest" + where);
  } else {
    FUZZ_CHECK(response.body.size() == *parser.content_length() &&
                   connection.consumed() == body_begin + *parser.content_length(),
               "the body is not Content-Length bytes" + where);
  }
  const bool may_keep =
      fuzz::KeepAliveFromHeader(response.headers, parser.version()) && !to_close && !(has_te && parser.version() < 11);
  FUZZ_CHECK(!parser.keep_alive() || may_keep, "the connection is kept where it must close" + where);
  FUZZ_CHECK(parser.Feed("HTTP/1.1 200 OK\r\n\r\n") == 0, "a done parser consumed more" + where);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const http::WireLimits limits = fuzz::LimitsFrom(data[1], ClientLimits());
  const std::string_view wire(reinterpret_cast<const char*>(data + 2), size - 2);
  fuzz::Connection connection(wire, data[0]);
  for (int i = 0; i < kMaxResponsesPerConnection && !connection.exhausted(); ++i) {
    http::ResponseParser parser(limits);
    const std::size_t begin = connection.consumed();
    const auto end = connection.Read(parser, limits, /*eof_ends_message=*/true);
    if (end == fuzz::Connection::End::kClosed) {
      FUZZ_TRACE("response %d at %zu: incomplete when the input ends\n", i, begin);
      break;
    }
    if (end == fuzz::Connection::End::kFailed) {
      const http::WireError& e = parser.error();
      FUZZ_TRACE("response %d at %zu: refused %d: %s\n", i, begin, e.status, e.detail.c_str());
      FUZZ_CHECK(e.status == 400 || e.status == 413 || e.status == 431,
                 "a refusal with status " + std::to_string(e.status) + ": " + e.detail);
      FUZZ_CHECK(parser.Feed("x") == 0, "a failed parser consumed more");
      break;  // the client drops the connection
    }
    FUZZ_TRACE("response %d at %zu: %d, %zu body bytes%s\n", i, begin, parser.message().status,
               parser.message().body.size(), parser.keep_alive() ? "" : " (connection closes)");
    CheckComplete(parser, connection, begin, limits);
    if (!parser.keep_alive()) break;
  }
  return 0;
}
