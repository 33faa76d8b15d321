#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "shop/http/message.h"

namespace shop::http {

/// What one HTTP/1.1 message may cost, on the wire as well as in memory.
struct WireLimits {
  std::size_t max_header_bytes = 16 * 1024;   ///< start line plus header section
  std::size_t max_body_bytes = 1024 * 1024;   ///< the body after chunked decoding
  /// Chunked framing (chunk-size lines, extensions, trailer section) beyond an allowance of 16 bytes
  /// plus twice its data per chunk; more is refused. The rule of Go's net/http after CVE-2023-39326.
  std::size_t max_framing_excess = 16 * 1024;

  /// The most unparsed bytes a reader must ever hold for one message: a whole header section, a
  /// chunk-size line or a trailer section. A reader whose buffer is this full while the parser
  /// still needs more has met a line that is too long (see Feed).
  std::size_t max_buffered_bytes() const { return max_header_bytes + 1024; }
};

/// Why a message was refused: the status and problem code a server answers with, and a detail.
struct WireError {
  int status = 400;
  std::string_view code = "validation_failed";
  std::string detail;
};

/// Incremental HTTP/1.1 parser (RFC 9112) for one message, fed bytes as they arrive. Beast's parser
/// underneath; on top, the rules of this product's edge:
/// - requests: a Transfer-Encoding other than exactly `chunked` (RFC 9112 §6.3 item 4: the body
///   length cannot be known), Transfer-Encoding with Content-Length or in HTTP/1.0 (§6.1, §6.3
///   item 3), all refused with 400: the caller must close the connection after answering;
/// - header section, body and chunked framing bounded by WireLimits (413/431 when exceeded);
/// - trailer fields (RFC 9110 §6.5) are read, counted as framing and dropped: they never reach the
///   message's fields, so nothing that controls authentication, framing or content comes from them.
/// Not thread-safe; one parser per message.
template <bool kRequest>
class WireParser {
 public:
  using Message = std::conditional_t<kRequest, Request, Response>;

  explicit WireParser(const WireLimits& limits);
  ~WireParser();
  WireParser(const WireParser&) = delete;
  WireParser& operator=(const WireParser&) = delete;

  /// Parses from the front of `bytes` and returns how many it consumed. Bytes not consumed are part
  /// of a line or section not yet complete: offer them again with more appended. When the caller
  /// holds limits.max_buffered_bytes() unconsumed bytes and the parser still needs more, it must call
  /// LineTooLong(). Feeding after done() or failed() consumes nothing.
  std::size_t Feed(std::string_view bytes);
  /// The peer closed the connection. A response whose body runs to the close completes here; anything
  /// else unfinished fails (never taken as a complete, empty message).
  void FeedEof();
  /// The caller's buffer is full and the parser needs more: a header or chunk line beyond the limits.
  void LineTooLong();
  /// Starts the next message on the same connection, as a new parser with the same limits would, but
  /// keeping this one's memory (a keep-alive connection parses every request with one parser).
  void Reset();

  bool header_done() const;  ///< the header section is complete and accepted
  bool done() const;         ///< the whole message is complete
  bool failed() const;
  bool got_some() const;  ///< any byte of this message arrived
  const WireError& error() const;

  unsigned version() const;  ///< 11 for HTTP/1.1, 10 for HTTP/1.0 (valid once header_done())
  bool keep_alive() const;   ///< the connection may carry another message after this one
  bool expects_continue() const;  ///< a request with `Expect: 100-continue`
  /// The declared Content-Length, when there is one.
  std::optional<std::uint64_t> content_length() const;

  /// The message: start line and header fields once header_done() (for a failed request, whatever
  /// header arrived, for logs), the body once done(). Never holds trailer fields.
  Message& message();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

using RequestParser = WireParser<true>;
using ResponseParser = WireParser<false>;

extern template class WireParser<true>;
extern template class WireParser<false>;

}  // namespace shop::http
