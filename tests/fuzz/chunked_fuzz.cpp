// Chunked decoding (RFC 9112 §7.1) by the request parser, against a reference decoder.
//
// Input: byte 0 picks the read sizes (ReadSchedule), byte 1 the limits (LimitsFrom), the rest is the
// body of a fixed `POST /orders` request with `Transfer-Encoding: chunked`: chunk-size lines,
// extensions, data, the last chunk, trailer fields, and maybe bytes after the message. The request
// is read as shop::http_server reads it; fuzz::DecodeChunked reads the same bytes by the RFC's grammar.
//
// Invariants (a violation aborts):
// - parser accepts => the reference accepts, with the same body, ending at the same byte (anything
//   else is a way to smuggle a request past a strict proxy, or to lose one);
// - parser accepts => the body is within max_body_bytes and the framing (everything that is not
//   data) within the allowance of WireParser: 16 bytes plus twice the data per chunk, plus
//   max_framing_excess; the message's fields are exactly the header's (trailers are dropped);
// - the reference accepts a body well within every limit (data, framing at every point, each
//   chunk-size line and the trailer section fit the reader's buffer; no obs-fold, no trailer that
//   Beast refuses by name) => the parser accepts it: the limits do not refuse valid requests;
// - a refusal is 400, 413 or 431.

#include <cstddef>
#include <cstdint>
#include <string>

#include "common.h"

namespace {

using namespace shop;
using fuzz::ChunkedReference;
using fuzz::Excerpt;

constexpr std::string_view kHeader =
    "POST /orders HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const http::WireLimits limits = fuzz::LimitsFrom(data[1]);
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
  std::string wire(kHeader);
  wire.append(body);

  fuzz::Connection connection(wire, data[0]);
  http::RequestParser parser(limits);
  const auto end = connection.Read(parser, limits, /*eof_ends_message=*/false);
  const ChunkedReference ref = fuzz::DecodeChunked(body);
  const bool complete = ref.result == ChunkedReference::Result::kComplete;
  const std::string where =
      "\n  body: " + Excerpt(body, 400) + "\n  reference: " +
      (complete ? "complete, " + std::to_string(ref.body.size()) + " bytes of data ending at " + std::to_string(ref.end)
       : ref.result == ChunkedReference::Result::kInvalid ? "invalid, " + ref.why
                                                          : std::string("incomplete"));

  FUZZ_TRACE("parser: %s; %s\n",
             end == fuzz::Connection::End::kDone
                 ? ("done, " + std::to_string(parser.message().body.size()) + " bytes").c_str()
             : end == fuzz::Connection::End::kFailed ? ("refused: " + parser.error().detail).c_str()
                                                     : "incomplete",
             where.c_str());
  if (end == fuzz::Connection::End::kDone) {
    const http::Request& request = parser.message();
    FUZZ_CHECK(complete, "the parser accepted a body the reference does not" + where);
    FUZZ_CHECK(request.body == ref.body, "the parser's body differs from the reference's" + where);
    FUZZ_CHECK(connection.consumed() == kHeader.size() + ref.end,
               "the parser ended the message at " + std::to_string(connection.consumed() - kHeader.size()) + where);
    FUZZ_CHECK(request.body.size() <= limits.max_body_bytes, "a body beyond max_body_bytes" + where);
    const std::uint64_t framing = ref.end - ref.body.size();
    const std::uint64_t allowance = 16 * ref.chunks + 2 * ref.body.size() + limits.max_framing_excess;
    FUZZ_CHECK(framing <= allowance, "framing of " + std::to_string(framing) + " bytes passed an allowance of " +
                                         std::to_string(allowance) + where);
    std::string culprit;
    FUZZ_CHECK(fuzz::FieldsComeFrom(request.headers, kHeader, &culprit),
               "a trailer reached the message: " + Excerpt(culprit) + where);
    std::size_t fields = 0;
    for ([[maybe_unused]] const auto& field : request.headers) ++fields;
    FUZZ_CHECK(fields == 3, "the message has " + std::to_string(fields) + " fields, the header 3" + where);
  } else if (end == fuzz::Connection::End::kFailed) {
    const http::WireError& e = parser.error();
    FUZZ_CHECK(e.status == 400 || e.status == 413 || e.status == 431,
               "a refusal with status " + std::to_string(e.status) + where);
  }

  // A valid body well within every limit must be accepted, however its bytes arrive.
  const std::size_t max_buffered = limits.max_buffered_bytes();
  const bool well_within = complete && !ref.obs_fold && !ref.framing_trailer &&
                           ref.body.size() <= limits.max_body_bytes && ref.worst_excess <= limits.max_framing_excess &&
                           ref.longest_unit < max_buffered && ref.last_section < max_buffered &&
                           kHeader.size() < limits.max_header_bytes;
  if (well_within) {
    const http::WireError& e = parser.error();
    FUZZ_CHECK(end == fuzz::Connection::End::kDone,
               "a valid body within the limits was " +
                   (end == fuzz::Connection::End::kFailed
                        ? "refused: " + std::to_string(e.status) + " " + std::string(e.code) + ": " + e.detail
                        : std::string("not complete at the end of the input")) +
                   where);
  }
  return 0;
}
