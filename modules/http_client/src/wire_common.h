#pragma once

// What the blocking and the asynchronous clients share on the wire: which fields are end-to-end,
// how a request is written, which answers are worth retrying. Internal to shop::http_client.

#include <boost/beast/core/flat_buffer.hpp>
#include <charconv>
#include <string>
#include <string_view>

#include "shop/http/message.h"
#include "shop/http/request_context.h"
#include "shop/http/wire_parser.h"

namespace shop::http {

inline bool IsHopByHop(std::string_view name) {
  // By length first: this runs for every field of every request and answer a proxy passes on.
  switch (name.size()) {
    case 2: return EqualsIgnoreCase(name, "te");
    case 4: return EqualsIgnoreCase(name, "host");
    case 6: return EqualsIgnoreCase(name, "expect");
    case 7: return EqualsIgnoreCase(name, "upgrade") || EqualsIgnoreCase(name, "trailer");
    case 10: return EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "keep-alive");
    case 14: return EqualsIgnoreCase(name, "content-length");
    case 17: return EqualsIgnoreCase(name, "transfer-encoding");
    case 18: return EqualsIgnoreCase(name, "proxy-authenticate");
    case 19: return EqualsIgnoreCase(name, "proxy-authorization");
    default: return false;
  }
}

/// RFC 9110 §7.6.1: the fields a Connection header names apply to this hop only, like the fixed set.
inline bool NamedByConnection(const Headers& headers, std::string_view name) {
  for (const auto& field : headers) {
    if (!EqualsIgnoreCase(field.name, "Connection")) continue;
    std::string_view list = field.value;
    while (!list.empty()) {
      const auto comma = list.find(',');
      std::string_view option = list.substr(0, comma);
      while (!option.empty() && (option.front() == ' ' || option.front() == '\t')) option.remove_prefix(1);
      while (!option.empty() && (option.back() == ' ' || option.back() == '\t')) option.remove_suffix(1);
      if (EqualsIgnoreCase(option, name)) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return false;
}

inline bool Retryable(int status) { return status == 502 || status == 503 || status == 504; }

/// Where reading a response stands after the bytes received so far were parsed.
enum class ReadState { kDone, kFailed, kNeedMore };

/// Feeds what `buffer` holds to `parser` (consuming what it took) and says what comes next. A
/// buffer that is full without a complete line is refused (kFailed), never grown: the
/// CVE-2023-39326 class.
inline ReadState FeedBuffered(ResponseParser& parser, boost::beast::flat_buffer& buffer, std::size_t max_buffered) {
  if (buffer.size() > 0) {
    const auto data = buffer.data();
    buffer.consume(parser.Feed({static_cast<const char*>(data.data()), data.size()}));
  }
  if (parser.failed()) return ReadState::kFailed;
  if (parser.done()) return ReadState::kDone;
  if (buffer.size() >= max_buffered) {
    parser.LineTooLong();
    return ReadState::kFailed;
  }
  return ReadState::kNeedMore;
}

/// The response with the hop-by-hop fields dropped, as a proxy or a client passes it on.
inline Response EndToEnd(Response in) {
  if (in.headers.Has("Connection")) {
    // The fields it names go too; read from a copy, since the fields are being removed.
    Headers named;
    for (const auto& field : in.headers) {
      if (EqualsIgnoreCase(field.name, "Connection")) named.Add(field.name, field.value);
    }
    in.headers.EraseIf([&](const Headers::Field& f) { return IsHopByHop(f.name) || NamedByConnection(named, f.name); });
  } else {
    in.headers.EraseIf([](const Headers::Field& f) { return IsHopByHop(f.name); });
  }
  return in;
}

/// Appends the request as bytes on the wire to `out`: our headers (hop-by-hop ones dropped), Host, the
/// request id and trace context of the request being handled, and the body.
/// `request_id` and `traceparent`, when given, are sent instead of the current request's (a call made
/// later, off the handler's stack, captured them when it started).
inline void AppendRequest(std::string& out, const Request& request, std::string_view host_port,
                          std::string_view request_id_override = {}, std::string_view traceparent_override = {}) {
  out.reserve(out.size() + 256 + request.body.size());
  out += request.method;
  out += ' ';
  out += request.target.empty() ? std::string_view("/") : std::string_view(request.target);
  out += " HTTP/1.1\r\nHost: ";
  out += host_port;
  out += "\r\n";
  const bool has_connection = request.headers.Has("Connection");
  for (const auto& field : request.headers) {
    if (IsHopByHop(field.name) || (has_connection && NamedByConnection(request.headers, field.name)) ||
        EqualsIgnoreCase(field.name, "X-Request-Id") || EqualsIgnoreCase(field.name, "traceparent")) {
      continue;
    }
    out += field.name;
    out += ": ";
    out += field.value;
    out += "\r\n";
  }
  std::string_view request_id = request.headers.Get("X-Request-Id");
  if (const RequestContext* ctx = CurrentRequest(); ctx && !ctx->request_id.empty()) request_id = ctx->request_id;
  if (!request_id_override.empty()) request_id = request_id_override;
  if (!request_id.empty()) {
    out += "X-Request-Id: ";
    out += request_id;
    out += "\r\n";
  }
  out += "traceparent: ";
  if (traceparent_override.empty()) {
    out += OutgoingTraceparent();
  } else {
    out += traceparent_override;
  }
  out += "\r\nContent-Length: ";
  char length[24];
  auto [end, ec] = std::to_chars(length, length + sizeof length, request.body.size());
  out.append(length, end);
  out += "\r\n\r\n";
  out += request.body;
}

/// AppendRequest into a string of its own.
inline std::string SerializeRequest(const Request& request, std::string_view host_port,
                                    std::string_view request_id_override = {},
                                    std::string_view traceparent_override = {}) {
  std::string out;
  AppendRequest(out, request, host_port, request_id_override, traceparent_override);
  return out;
}

}  // namespace shop::http
