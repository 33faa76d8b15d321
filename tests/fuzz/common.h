#pragma once

// What the libFuzzer harnesses of tests/fuzz share: how an invariant fails, how bytes arrive (the
// read loop of shop::http_server and shop::http_client, with read sizes chosen by the input), a
// reference decoder for chunked bodies (RFC 9112 §7.1) and the checks every HTTP response passes.

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shop/http/message.h"
#include "shop/http/wire_parser.h"
#include "shop/platform/log.h"

namespace shop::fuzz {

/// Ends the run as a finding (libFuzzer saves the input as crash-<sha1>) with what was violated.
[[noreturn]] inline void Fail(const char* file, int line, const char* condition, const std::string& detail) {
  log::FlushThisThread();  // a handler's error log line, if any, says more
  std::fprintf(stderr, "\n==== fuzz invariant violated at %s:%d\n  %s\n  %s\n", file, line, condition, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

#define FUZZ_CHECK(cond, detail)                                          \
  do {                                                                    \
    if (!(cond)) ::shop::fuzz::Fail(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)

/// Printable excerpt of untrusted bytes for a failure message.
inline std::string Excerpt(std::string_view bytes, std::size_t max = 200) {
  std::string out;
  for (char c : bytes.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n";
    else if (u < 0x20 || u >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  if (bytes.size() > max) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

/// With FUZZ_TRACE=1 in the environment the harnesses say what they did with each input (to read a
/// reproducer's story; far too slow for fuzzing).
inline bool Tracing() {
  static const bool on = [] {
    const char* v = std::getenv("FUZZ_TRACE");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return on;
}

#define FUZZ_TRACE(...)                                             \
  do {                                                              \
    if (::shop::fuzz::Tracing()) std::fprintf(stderr, __VA_ARGS__); \
  } while (0)

/// Silences the per-request log lines of App (errors still get through).
inline void QuietLogs() { log::Configure("fuzz", log::Level::kError); }

/// The sizes in which the peer's bytes arrive, from one byte of the input:
///   low 2 bits 0: whole reads (as much as the buffer has room for, as on a fast network);
///              1: one byte at a time; 2: 1..16 bytes; 3: 1..room, skewed small.
/// The other bits seed the sizes of modes 2 and 3.
class ReadSchedule {
 public:
  explicit ReadSchedule(std::uint8_t control) : mode_(control & 3), state_(0x9E3779B97F4A7C15ull ^ control) {}

  std::size_t Next(std::size_t room) {
    switch (mode_) {
      case 0:
        return room;
      case 1:
        return 1;
      case 2:
        return std::min<std::size_t>(room, 1 + Random() % 16);
      default: {
        const std::uint64_t r = Random();
        const std::size_t cap = std::size_t{1} << (r % 16);  // 1, 2, 4, ... 32 KiB
        return std::min<std::size_t>(room, 1 + (r >> 8) % cap);
      }
    }
  }

 private:
  std::uint64_t Random() {  // splitmix64
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  int mode_;
  std::uint64_t state_;
};

/// The limits a run uses, from one byte of the input: below 0x80 the production defaults
/// (WireLimits{}), else small ones the input can reach within -max_len:
/// headers 256..2048 bytes, body 0..448 bytes, framing excess 0..96 bytes.
inline http::WireLimits LimitsFrom(std::uint8_t control, const http::WireLimits& production = {}) {
  if (control < 0x80) return production;
  http::WireLimits limits;
  limits.max_header_bytes = std::size_t{256} << (control & 3);
  limits.max_body_bytes = std::size_t{64} * ((control >> 2) & 7);
  limits.max_framing_excess = std::size_t{32} * ((control >> 5) & 3);
  return limits;
}

/// One end of a connection reading messages the way shop::http_server (requests) and
/// shop::http_client (responses) do: a buffer of at most limits.max_buffered_bytes() unparsed bytes,
/// refilled by reads of at most 16 KiB; Feed from its front; LineTooLong when it is full and the
/// parser still needs more. The buffer carries over from one message to the next (pipelining).
class Connection {
 public:
  enum class End {
    kDone,    ///< the message is complete
    kFailed,  ///< the parser refused it
    kClosed,  ///< the peer's bytes ran out first (the server then answers nothing)
  };

  Connection(std::string_view wire, std::uint8_t schedule) : wire_(wire), schedule_(schedule) {}

  /// Offset in the wire of the first byte not yet consumed by a parser.
  std::size_t consumed() const { return read_ - buffer_.size(); }
  bool exhausted() const { return read_ == wire_.size() && buffer_.empty(); }
  std::string_view wire() const { return wire_; }

  /// Reads one message into `parser`. With `eof_ends_message` (the client), a close of the peer is
  /// offered to the parser (FeedEof) once some of the message arrived.
  template <bool kRequest>
  End Read(http::WireParser<kRequest>& parser, const http::WireLimits& limits, bool eof_ends_message) {
    const std::size_t max_buffered = limits.max_buffered_bytes();
    while (true) {
      if (!buffer_.empty()) {
        const std::size_t used = parser.Feed(buffer_);
        FUZZ_CHECK(used <= buffer_.size(), "Feed consumed more than it was offered");
        buffer_.erase(0, used);
      }
      FUZZ_CHECK(!(parser.done() && parser.failed()), "a parser is both done and failed");
      if (parser.failed()) return End::kFailed;
      if (parser.done()) return End::kDone;
      if (buffer_.size() >= max_buffered) {
        parser.LineTooLong();
        FUZZ_CHECK(parser.failed() && !parser.done(), "LineTooLong did not fail the message");
        return End::kFailed;
      }
      if (read_ == wire_.size()) {
        if (!eof_ends_message || !parser.got_some()) return End::kClosed;
        parser.FeedEof();
        FUZZ_CHECK(parser.done() != parser.failed(), "after FeedEof a message must be done or failed");
        return parser.done() ? End::kDone : End::kFailed;
      }
      const std::size_t room = std::min<std::size_t>(16 * 1024, max_buffered - buffer_.size());
      const std::size_t n = std::min(schedule_.Next(room), wire_.size() - read_);
      buffer_.append(wire_.substr(read_, n));
      read_ += n;
    }
  }

 private:
  std::string_view wire_;
  ReadSchedule schedule_;
  std::size_t read_ = 0;  // bytes of wire_ moved into buffer_
  std::string buffer_;
};

/// Length of the header section (start line, fields, the empty line) of the message starting at
/// `begin`, or npos when the wire holds no CRLFCRLF after it.
inline std::size_t HeaderSectionLength(std::string_view wire, std::size_t begin) {
  const std::size_t end = wire.find("\r\n\r\n", begin);
  return end == std::string_view::npos ? end : end + 4 - begin;
}

/// True when every field of `headers` was written in `section` (a field that is not there came from
/// somewhere else: a trailer). Values are compared word by word: obs-fold joins lines with spaces.
inline bool FieldsComeFrom(const http::Headers& headers, std::string_view section, std::string* culprit) {
  for (const auto& field : headers) {
    bool found = section.find(field.name) != std::string_view::npos;
    std::string_view value = field.value;
    while (found && !value.empty()) {
      const std::size_t space = value.find_first_of(" \t");
      const std::string_view word = value.substr(0, space);
      if (!word.empty()) found = section.find(word) != std::string_view::npos;
      if (space == std::string_view::npos) break;
      value.remove_prefix(space + 1);
    }
    if (!found) {
      *culprit = field.name + ": " + field.value;
      return false;
    }
  }
  return true;
}

inline bool IsTokenChar(char c) {  // RFC 9110 §5.6.2 tchar
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// A chunked body read by the letter of RFC 9112 §7.1, independently of Beast: what a strict
/// recipient makes of `in`, and what the framing cost on the way.
struct ChunkedReference {
  enum class Result { kComplete, kIncomplete, kInvalid };
  Result result = Result::kIncomplete;
  std::string body;
  std::size_t end = 0;     ///< length of the chunked body, trailer section and final CRLF included
  std::size_t chunks = 0;  ///< chunk-size lines, the last chunk's included
  /// The largest excess of framing over the allowance of WireParser (16 bytes plus twice the data
  /// per chunk so far) at any point: where the parser may stop a body as too expensive.
  std::uint64_t worst_excess = 0;
  std::size_t longest_unit = 0;  ///< longest chunk-size line with its CRLF and the CRLF before it
  std::size_t last_section = 0;  ///< CRLF before the last chunk through the final CRLF
  bool obs_fold = false;         ///< a trailer field used obsolete line folding
  bool framing_trailer = false;  ///< a trailer named Content-Length, Transfer-Encoding or *Connection
  std::string why;               ///< for kInvalid: the rule broken
};

inline ChunkedReference DecodeChunked(std::string_view in) {
  ChunkedReference ref;
  using Result = ChunkedReference::Result;
  const std::size_t n = in.size();
  std::size_t i = 0;
  std::uint64_t framing = 0;
  std::uint64_t allowance = 0;
  auto track = [&] {
    if (framing > allowance) ref.worst_excess = std::max(ref.worst_excess, framing - allowance);
  };
  auto invalid = [&](const char* why) {
    ref.result = Result::kInvalid;
    ref.why = std::string(why) + " at offset " + std::to_string(i);
    return ref;
  };
  auto incomplete = [&] {
    ref.result = Result::kIncomplete;
    return ref;
  };
  auto is_hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
  auto hex_value = [](char c) -> unsigned { return c <= '9' ? unsigned(c - '0') : (c | 0x20) - 'a' + 10u; };
  auto skip_bws = [&] {
    while (i < n && (in[i] == ' ' || in[i] == '\t')) ++i;
  };
  // A CRLF at i: advances and returns 1; 0 when the input ends first; -1 when something else is there.
  auto crlf = [&]() -> int {
    if (i < n && in[i] != '\r') return -1;
    if (i + 1 < n && in[i + 1] != '\n') return -1;
    if (i + 2 > n) return 0;
    i += 2;
    return 1;
  };

  std::size_t unit_begin = 0;  // start of the current unit: the CRLF after the previous data, or 0
  while (true) {
    // chunk-size = 1*HEXDIG
    const std::size_t digits = i;
    std::uint64_t size = 0;
    bool overflow = false;
    while (i < n && is_hex(in[i])) {
      if (size > (std::numeric_limits<std::uint64_t>::max() >> 4)) overflow = true;
      size = (size << 4) | hex_value(in[i]);
      ++i;
    }
    if (i == n) return incomplete();
    if (i == digits) return invalid("chunk-size is not hexadecimal");
    if (overflow) return invalid("chunk-size overflows 64 bits");
    // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    while (true) {
      const std::size_t before = i;
      skip_bws();
      if (i == n) return incomplete();
      if (in[i] != ';') {
        i = before;
        break;
      }
      ++i;
      skip_bws();
      const std::size_t name = i;
      while (i < n && IsTokenChar(in[i])) ++i;
      if (i == n) return incomplete();
      if (i == name) return invalid("chunk-ext-name is not a token");
      const std::size_t after_name = i;
      skip_bws();
      if (i == n) return incomplete();
      if (in[i] != '=') {
        i = after_name;
        continue;
      }
      ++i;
      skip_bws();
      if (i == n) return incomplete();
      if (in[i] == '"') {  // quoted-string
        ++i;
        while (true) {
          if (i == n) return incomplete();
          const auto c = static_cast<unsigned char>(in[i]);
          if (c == '"') {
            ++i;
            break;
          }
          if (c == '\\') {
            if (i + 1 == n) return incomplete();
            const auto q = static_cast<unsigned char>(in[i + 1]);
            if (!(q == '\t' || q == ' ' || (q >= 0x21 && q != 0x7f))) return invalid("bad quoted-pair");
            i += 2;
            continue;
          }
          if (!(c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) ||
                c >= 0x80)) {
            return invalid("bad qdtext in a chunk extension");
          }
          ++i;
        }
      } else {
        const std::size_t value = i;
        while (i < n && IsTokenChar(in[i])) ++i;
        if (i == n) return incomplete();
        if (i == value) return invalid("chunk-ext-val is neither token nor quoted-string");
      }
    }
    if (const int r = crlf(); r <= 0) return r == 0 ? incomplete() : invalid("chunk-size line does not end in CRLF");
    ++ref.chunks;
    framing += i - unit_begin;
    allowance += 16 + 2 * std::min<std::uint64_t>(size, std::uint64_t{1} << 62);
    track();
    if (size == 0) break;
    ref.longest_unit = std::max(ref.longest_unit, i - unit_begin);
    if (n - i < size) return incomplete();
    ref.body.append(in.substr(i, size));
    i += size;
    unit_begin = i;
    if (const int r = crlf(); r <= 0) return r == 0 ? incomplete() : invalid("chunk-data is not followed by CRLF");
    // The CRLF is counted with the next chunk-size line (as Beast parses the two together).
  }
  // trailer-section = *( field-line CRLF ), then CRLF
  const std::size_t trailer = i;
  bool in_field = false;
  while (true) {
    if (i == n) return incomplete();
    if (in[i] == '\r') {
      if (const int r = crlf(); r <= 0) return r == 0 ? incomplete() : invalid("bare CR in the trailer section");
      break;
    }
    if ((in[i] == ' ' || in[i] == '\t')) {
      if (!in_field) return invalid("whitespace before the first trailer field");
      ref.obs_fold = true;  // obs-fold: continues the previous field's value
    } else {
      const std::size_t name = i;
      while (i < n && IsTokenChar(in[i])) ++i;
      if (i == n) return incomplete();
      if (i == name || in[i] != ':') return invalid("trailer field-name is not a token followed by ':'");
      std::string lower;
      for (char c : in.substr(name, i - name)) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
          lower == "proxy-connection") {
        ref.framing_trailer = true;
      }
      ++i;
    }
    // OWS field-value OWS: VCHAR, obs-text, SP and HTAB up to CRLF
    while (i < n) {
      const auto c = static_cast<unsigned char>(in[i]);
      if (!(c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f))) break;
      ++i;
    }
    if (const int r = crlf(); r <= 0) return r == 0 ? incomplete() : invalid("trailer field does not end in CRLF");
    in_field = true;
  }
  framing += i - trailer;
  track();
  ref.last_section = i - unit_begin;
  ref.end = i;
  ref.result = Result::kComplete;
  return ref;
}

/// Canonical base64url without padding (RFC 4648 §5), written here rather than taken from the
/// auth module, so that the token harness checks its decoder against an independent encoder.
inline std::string Base64Url(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                            (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) | std::uint8_t(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    const std::uint32_t v = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const std::uint32_t v =
        (std::uint32_t(std::uint8_t(bytes[i])) << 16) | (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

/// The body parsed as JSON, or nullopt.
inline std::optional<boost::json::value> ParseJson(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

inline bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::ranges::all_of(id, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

/// What every answer of App passes: a status the API uses, never 5xx here, the common headers, and a
/// JSON body (a problem document with the same status) whenever it says it is JSON.
inline void CheckResponse(const http::Response& r, std::string_view context) {
  const std::string where = std::string(context) + ": status " + std::to_string(r.status) + ", body " + Excerpt(r.body);
  FUZZ_CHECK(r.status >= 200 && r.status < 500, "an answer outside 2xx-4xx: " + where);
  FUZZ_CHECK(http::ReasonPhrase(r.status) != "Unknown", "a status without a reason phrase: " + where);
  FUZZ_CHECK(r.headers.Get("Api-Version") == "1", "no Api-Version: 1 on " + where);
  FUZZ_CHECK(IsValidRequestId(r.headers.Get("X-Request-Id")), "no valid X-Request-Id on " + where);
  if (r.status == 405) FUZZ_CHECK(!r.headers.Get("Allow").empty(), "405 without Allow: " + where);
  const std::string_view type = r.headers.Get("Content-Type");
  if (type == "application/json" || type == "application/problem+json") {
    auto json = ParseJson(r.body);
    FUZZ_CHECK(json.has_value(), "a JSON answer that is not JSON: " + where);
    if (type == "application/problem+json") {
      const auto* object = json->if_object();
      FUZZ_CHECK(object != nullptr, "a problem that is not an object: " + where);
      const auto* status = object->if_contains("status");
      const auto* code = object->if_contains("code");
      FUZZ_CHECK(status && status->is_int64() && status->get_int64() == r.status,
                 "a problem whose status is not the answer's: " + where);
      FUZZ_CHECK(code && code->is_string() && !code->get_string().empty(), "a problem without a code: " + where);
    }
  }
}

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) { return http::EqualsIgnoreCase(a, b); }

/// The transfer codings of all Transfer-Encoding fields of `headers`, as one list (RFC 9110 §5.3).
inline std::vector<std::string> TransferCodings(const http::Headers& headers) {
  std::vector<std::string> codings;
  for (const auto& field : headers) {
    if (!EqualsIgnoreCase(field.name, "Transfer-Encoding")) continue;
    std::string_view list = field.value;
    while (true) {
      const std::size_t comma = list.find(',');
      std::string_view element = list.substr(0, comma);
      while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) element.remove_prefix(1);
      while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) element.remove_suffix(1);
      if (!element.empty()) codings.emplace_back(element);
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return codings;
}

inline std::size_t CountFields(const http::Headers& headers, std::string_view name) {
  return static_cast<std::size_t>(
      std::ranges::count_if(headers, [&](const auto& field) { return EqualsIgnoreCase(field.name, name); }));
}

/// Whether a connection may carry another message, judged from a message's header section alone
/// (RFC 9112 §9.3): HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
inline bool KeepAliveFromHeader(const http::Headers& headers, unsigned version) {
  bool close = false;
  bool keep_alive = false;
  for (const auto& field : headers) {
    if (!EqualsIgnoreCase(field.name, "Connection") && !EqualsIgnoreCase(field.name, "Proxy-Connection")) continue;
    std::string_view list = field.value;
    while (true) {
      const std::size_t comma = list.find(',');
      std::string_view element = list.substr(0, comma);
      while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) element.remove_prefix(1);
      while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) element.remove_suffix(1);
      if (EqualsIgnoreCase(element, "close")) close = true;
      if (EqualsIgnoreCase(element, "keep-alive")) keep_alive = true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return version >= 11 ? !close : keep_alive;
}

}  // namespace shop::fuzz
