#include "shop/http/wire_parser.h"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <functional>
#include <optional>

namespace shop::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;

std::string Bytes(std::size_t n) {
  if (n % (1024 * 1024) == 0) return std::to_string(n / (1024 * 1024)) + " MiB";
  if (n % 1024 == 0) return std::to_string(n / 1024) + " KiB";
  return std::to_string(n) + " bytes";
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// True when the Transfer-Encoding fields, taken together as one list (RFC 9110 §5.3), name exactly
/// one coding, `chunked`: the only transfer coding this server decodes. Empty list elements are
/// allowed and skipped (RFC 9110 §5.6.1).
bool OnlyChunked(const Headers& fields) {
  int codings = 0;
  bool chunked = false;
  for (const auto& field : fields) {
    if (!EqualsIgnoreCase(field.name, "Transfer-Encoding")) continue;
    std::string_view list = field.value;
    while (true) {
      const auto comma = list.find(',');
      std::string_view element = TrimOws(list.substr(0, comma));
      if (!element.empty()) {
        ++codings;
        chunked = EqualsIgnoreCase(element, "chunked");
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return codings == 1 && chunked;
}

/// Beast's parser, delivering the message straight into this product's Request or Response: the start
/// line, the header fields as they are parsed, the body. Beast's own `parser` stores the fields in a
/// basic_fields (an allocation per field) that TakeHeader then copied again: on a GET /products/{id}
/// through the gateway, its response parse cost ~6,000 instructions (callgrind), most of it that.
/// Framing, limits and validation stay Beast's (basic_parser); trailer fields are dropped here.
template <bool kRequest>
class MessageParser final : public bhttp::basic_parser<kRequest> {
 public:
  using Message = std::conditional_t<kRequest, Request, Response>;
  using ChunkCallback = std::function<void(std::uint64_t, std::string_view, beast::error_code&)>;

  MessageParser(Message& message, const ChunkCallback& on_chunk) : message_(message), on_chunk_(on_chunk) {}

  unsigned version() const { return version_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target, int version,
                       beast::error_code&) override {
    if constexpr (kRequest) {
      message_.method.assign(method.data(), method.size());
      message_.target.assign(target.data(), target.size());
    }
    version_ = static_cast<unsigned>(version);
  }
  void on_response_impl(int code, beast::string_view, int version, beast::error_code&) override {
    if constexpr (!kRequest) message_.status = code;
    version_ = static_cast<unsigned>(version);
  }
  void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value, beast::error_code&) override {
    // Trailer fields (after the header section) never join the message's fields.
    if (this->is_header_done()) return;
    message_.headers.Add(std::string(name.data(), name.size()),
                         std::string(TrimOws(std::string_view(value.data(), value.size()))));
  }
  void on_header_impl(beast::error_code& ec) override { ec = {}; }
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, beast::error_code& ec) override {
    ec = {};
    // Beast's body limit has already refused a larger declared length.
    if (content_length) message_.body.reserve(static_cast<std::size_t>(*content_length));
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code& ec) override {
    ec = {};
    message_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t size, beast::string_view extensions, beast::error_code& ec) override {
    on_chunk_(size, std::string_view(extensions.data(), extensions.size()), ec);
  }
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code& ec) override {
    ec = {};
    message_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code& ec) override { ec = {}; }

  Message& message_;
  const ChunkCallback& on_chunk_;
  unsigned version_ = 11;
};

/// True when `pending`, what Beast left unconsumed in a chunked body, holds all Beast needs to go on: a
/// whole chunk-size line, and for the last chunk also the end of the trailer section. Beast then "needs
/// more" only because a quoted chunk-ext-val ran past the line's end (it allows CR and LF there), and
/// would parse that line again from its start on every read: quadratic in the line for a client that
/// drips bytes (found by tests/fuzz as timeouts, chunked and response harnesses). RFC 9112 §7.1.1
/// allows no CR or LF in a chunk extension, so such a line is malformed.
bool RunawayChunkLine(std::string_view pending) {
  if (pending.starts_with("\r\n")) pending.remove_prefix(2);  // the end of the previous chunk's data
  const auto eol = pending.find("\r\n");
  if (eol == std::string_view::npos) return false;
  bool last_chunk = true;
  std::size_t digits = 0;
  for (; digits < eol && std::isxdigit(static_cast<unsigned char>(pending[digits])); ++digits) {
    last_chunk = last_chunk && pending[digits] == '0';
  }
  if (digits == 0) return false;
  // A last chunk rightly waits for its whole trailer section, which ends with an empty line.
  return !last_chunk || pending.find("\r\n\r\n", eol) != std::string_view::npos;
}

}  // namespace

template <bool kRequest>
struct WireParser<kRequest>::Impl {
  using Parser = MessageParser<kRequest>;

  WireLimits limits;
  Message message;
  std::function<void(std::uint64_t, std::string_view, beast::error_code&)> on_chunk;
  std::optional<Parser> parser_storage;  // emplaced again for each message (Beast's parser has no reset)
  Parser& parser;
  WireError error;
  bool failed = false;
  bool header_done = false;
  bool keep_alive = false;  // as the header section says: Beast would let a trailer's Connection change it
  std::uint64_t header_bytes = 0;     // consumed while reading the header section
  std::uint64_t body_wire_bytes = 0;  // consumed after the header section: data plus framing
  std::uint64_t framing_allowance = 0;

  explicit Impl(const WireLimits& l)
      : limits(l),
        on_chunk([this](std::uint64_t size, std::string_view extensions, beast::error_code& ec) {
          framing_allowance += 16 + 2 * size;
          // Beast lets a quoted chunk-ext-val hold any byte but '"', a bare LF among them, which a proxy
          // that ends lines at LF reads as the end of the chunk line (request smuggling). RFC 9112 §7.1.1
          // allows no control character there but HTAB.
          for (char c : extensions) {
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) ec = bhttp::error::bad_chunk_extension;
          }
        }),
        parser(parser_storage.emplace(message, on_chunk)) {
    message.headers.Reserve(8);
    Configure();
  }

  void Configure() {
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    // Not eager until the header is checked: its rules apply before any of the body is read.
    parser.eager(false);
  }

  void Reset() {
    // The next message in the same memory (a connection's requests, or answers, are alike).
    if constexpr (kRequest) {
      message.method.clear();
      message.target.clear();
      message.peer.clear();
    } else {
      message.status = 200;
    }
    message.headers.Clear();
    message.body.clear();
    if (message.body.capacity() > 64 * 1024) message.body.shrink_to_fit();  // a large body's memory is not kept
    parser_storage.emplace(message, on_chunk);  // the same object: `parser` still refers to it
    Configure();
    error = WireError();
    failed = false;
    header_done = false;
    keep_alive = false;
    header_bytes = 0;
    body_wire_bytes = 0;
    framing_allowance = 0;
  }

  std::size_t Count(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& field : message.headers) n += EqualsIgnoreCase(field.name, name) ? 1 : 0;
    return n;
  }

  void Fail(int status, std::string_view code, std::string detail) {
    failed = true;
    error = {status, code, std::move(detail)};
  }

  void FailFrom(const beast::error_code& ec) {
    if (ec == bhttp::error::header_limit) {
      Fail(431, "validation_failed", std::string(kRequest ? "request" : "response") + " headers exceed " +
                                         Bytes(limits.max_header_bytes));
    } else if (ec == bhttp::error::body_limit) {
      Fail(413, "payload_too_large",
           std::string(kRequest ? "the request" : "the response") + " body exceeds " + Bytes(limits.max_body_bytes));
    } else {
      Fail(400, "validation_failed", std::string("malformed HTTP ") + (kRequest ? "request" : "response") + ": " +
                                         ec.message());
    }
  }

  /// The rules Beast leaves to its user, checked once the header section is complete.
  bool AcceptHeader() {
    // Responses too: Beast frames `Transfer-Encoding: gzip` plus Content-Length by the length, and takes
    // `chunked/x` for chunked, where a strict reader reads to the close (RFC 9112 §6.3). This product's
    // servers send Content-Length only.
    if constexpr (!kRequest) {
      // Only final answers: this client sends no Expect and asks for no upgrade, so an interim 1xx is
      // not the answer (RFC 9110 §15.2), and a status outside 200..599 is no HTTP answer at all.
      if (message.status < 200 || message.status > 599) {
        Fail(400, "validation_failed", "response status " + std::to_string(message.status) + " is not a final status");
        return false;
      }
    }
    const bool transfer_encoding = Count("Transfer-Encoding") > 0;
    if (transfer_encoding) {
      if (kRequest && parser.version() < 11) {
        Fail(400, "validation_failed", "Transfer-Encoding is not allowed in an HTTP/1.0 request");
        return false;
      }
      if (Count("Content-Length") > 0) {
        Fail(400, "validation_failed", std::string("a ") + (kRequest ? "request" : "response") +
                                           " may not carry both Transfer-Encoding and Content-Length");
        return false;
      }
      if (!OnlyChunked(message.headers)) {
        Fail(400, "validation_failed", "the only Transfer-Encoding accepted is chunked");
        return false;
      }
    }
    // RFC 9112 §6.1: after a message with Transfer-Encoding in HTTP/1.0 (a response: requests are refused
    // above) the connection must close.
    keep_alive = parser.keep_alive() && !(parser.version() < 11 && transfer_encoding);
    header_done = true;
    parser.eager(true);
    return true;
  }

  void CheckFraming() {
    if (!header_done || failed || !parser.chunked()) return;
    const std::uint64_t data = message.body.size();
    const std::uint64_t framing = body_wire_bytes - data;
    if (framing > framing_allowance + limits.max_framing_excess) {
      Fail(413, "payload_too_large", "the chunked framing of the body (chunk lines, extensions, trailers) is too large");
    }
  }

  std::size_t Feed(std::string_view bytes) {
    std::size_t total = 0;
    while (!failed && !parser.is_done() && total < bytes.size()) {
      beast::error_code ec;
      const std::size_t used = parser.put(boost::asio::const_buffer(bytes.data() + total, bytes.size() - total), ec);
      total += used;
      if (header_done) {
        body_wire_bytes += used;
      } else {
        header_bytes += used;
      }
      if (ec == bhttp::error::need_more) {
        // Beast applies its header limit to each put() alone and consumes whole fields as they come:
        // a header section fed in pieces must be bounded here, as a whole.
        if (!header_done && header_bytes + (bytes.size() - total) > limits.max_header_bytes) {
          FailFrom(bhttp::error::header_limit);
        } else if (header_done && parser.chunked() && RunawayChunkLine(bytes.substr(total))) {
          Fail(400, "validation_failed", "malformed chunk extension: a quoted value runs past the end of its line");
        }
        break;
      }
      if (ec) {
        FailFrom(ec);
        break;
      }
      if (!header_done && parser.is_header_done()) {
        if (header_bytes > limits.max_header_bytes) {
          FailFrom(bhttp::error::header_limit);
          break;
        }
        if (!AcceptHeader()) break;
        // The header's own bytes were consumed above, before header_done: only the body counts on.
      }
      CheckFraming();
      if (parser.is_done()) break;
      if (used == 0) break;
    }
    return total;
  }
};

template <bool kRequest>
WireParser<kRequest>::WireParser(const WireLimits& limits) : impl_(std::make_unique<Impl>(limits)) {}
template <bool kRequest>
WireParser<kRequest>::~WireParser() = default;

template <bool kRequest>
std::size_t WireParser<kRequest>::Feed(std::string_view bytes) {
  return impl_->Feed(bytes);
}

template <bool kRequest>
void WireParser<kRequest>::FeedEof() {
  Impl& s = *impl_;
  if (s.failed || s.parser.is_done()) return;
  beast::error_code ec;
  if (s.parser.got_some()) s.parser.put_eof(ec);
  if (ec || !s.parser.is_done() || !s.header_done) {
    s.Fail(400, "validation_failed", "the connection closed before the whole message arrived");
  }
}

template <bool kRequest>
void WireParser<kRequest>::LineTooLong() {
  Impl& s = *impl_;
  if (s.failed || s.parser.is_done()) return;
  if (!s.header_done) {
    s.FailFrom(bhttp::error::header_limit);
  } else {
    s.Fail(413, "payload_too_large", "a chunk-size line or the trailer section of the body is too long");
  }
}

template <bool kRequest>
void WireParser<kRequest>::Reset() {
  impl_->Reset();
}

template <bool kRequest>
bool WireParser<kRequest>::header_done() const {
  return impl_->header_done;
}
template <bool kRequest>
bool WireParser<kRequest>::done() const {
  return !impl_->failed && impl_->parser.is_done();
}
template <bool kRequest>
bool WireParser<kRequest>::failed() const {
  return impl_->failed;
}
template <bool kRequest>
bool WireParser<kRequest>::got_some() const {
  return impl_->parser.got_some();
}
template <bool kRequest>
const WireError& WireParser<kRequest>::error() const {
  return impl_->error;
}
template <bool kRequest>
unsigned WireParser<kRequest>::version() const {
  return impl_->parser.version();
}
template <bool kRequest>
bool WireParser<kRequest>::keep_alive() const {
  return impl_->header_done && impl_->keep_alive;
}
template <bool kRequest>
bool WireParser<kRequest>::expects_continue() const {
  if constexpr (kRequest) {
    return impl_->header_done && impl_->parser.version() >= 11 &&
           EqualsIgnoreCase(impl_->message.headers.Get("Expect"), "100-continue");
  }
  return false;
}
template <bool kRequest>
std::optional<std::uint64_t> WireParser<kRequest>::content_length() const {
  auto length = impl_->parser.content_length();
  if (!length) return std::nullopt;
  return *length;
}
template <bool kRequest>
typename WireParser<kRequest>::Message& WireParser<kRequest>::message() {
  Impl& s = *impl_;
  // A message refused in its header still shows its header (a request is logged with it), but only a
  // whole one: the fields of a header section that never completed are not the message's.
  if (!s.header_done && !s.parser.is_header_done() && !s.message.headers.empty()) {
    if constexpr (kRequest) {
      s.message.method.clear();
      s.message.target.clear();
    } else {
      s.message.status = 0;
    }
    s.message.headers = Headers();
  }
  return s.message;
}

template class WireParser<true>;
template class WireParser<false>;

}  // namespace shop::http
