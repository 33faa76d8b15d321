#pragma once

// What the blocking and the asynchronous clients share on the wire: which fields are end-to-end,
// how a request is written, which answers are worth retrying. Internal to shop::http_client.

#include <boost/beast/core/flat_buffer.hpp>
#include <string>
#include <string_view>

#include "shop/http/message.h"
#include "shop/http/request_context.h"
#include "shop/http/wire_parser.h"

namespace shop::http {

inline bool IsHopByHop(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te",
                             "trailer", "proxy-authorization", "proxy-authenticate", "expect", "host"}) {
    if (EqualsIgnoreCase(name, h)) return true;
  }
  return false;
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
  Response response;
  response.status = in.status;
  for (const auto& field : in.headers) {
    if (!IsHopByHop(field.name) && !NamedByConnection(in.headers, field.name)) response.headers.Add(field.name, field.value);
  }
  response.body = std::move(in.body);
  return response;
}

/// The request as bytes on the wire: our headers (hop-by-hop ones dropped), Host, the request id
/// and trace context of the request being handled, and the body.
/// `request_id` and `traceparent`, when given, are sent instead of the current request's (a call made
/// later, off the handler's stack, captured them when it started).
inline std::string SerializeRequest(const Request& request, std::string_view host_port,
                                    std::string_view request_id_override = {},
                                    std::string_view traceparent_override = {}) {
  std::string out;
  out.reserve(256 + request.body.size());
  out += request.method;
  out += ' ';
  out += request.target.empty() ? "/" : request.target;
  out += " HTTP/1.1\r\nHost: ";
  out += host_port;
  out += "\r\n";
  for (const auto& field : request.headers) {
    if (IsHopByHop(field.name) || NamedByConnection(request.headers, field.name) ||
        EqualsIgnoreCase(field.name, "X-Request-Id") ||
        EqualsIgnoreCase(field.name, "traceparent")) {
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
  out += traceparent_override.empty() ? OutgoingTraceparent() : std::string(traceparent_override);
  out += "\r\nContent-Length: ";
  out += std::to_string(request.body.size());
  out += "\r\n\r\n";
  out += request.body;
  return out;
}

}  // namespace shop::http
