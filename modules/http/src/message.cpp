#include "shop/http/message.h"

#include <algorithm>

#include "shop/core/text.h"

namespace shop::http {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return lower(x) == lower(y);
  });
}

std::string_view Headers::Get(std::string_view name) const {
  for (const Field& f : fields_) {
    if (EqualsIgnoreCase(f.name, name)) return f.value;
  }
  return {};
}

bool Headers::Has(std::string_view name) const {
  return std::ranges::any_of(fields_, [&](const Field& f) { return EqualsIgnoreCase(f.name, name); });
}

void Headers::Set(std::string_view name, std::string value) {
  auto same = [&](const Field& f) { return EqualsIgnoreCase(f.name, name); };
  auto first = std::ranges::find_if(fields_, same);
  if (first == fields_.end()) {
    fields_.push_back({std::string(name), std::move(value)});
    return;
  }
  first->value = std::move(value);
  fields_.erase(std::remove_if(first + 1, fields_.end(), same), fields_.end());
}

std::string_view Request::Path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view Request::Query() const {
  std::string_view t = target;
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

Response JsonResponse(int status, std::string body) {
  Response r;
  r.headers.Reserve(4);  // and the pipeline's Api-Version and X-Request-Id, without growing twice
  r.status = status;
  r.headers.Add("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

Response Problem(int status, std::string_view code, std::string_view detail) {
  Response r;
  r.headers.Reserve(4);
  r.status = status;
  r.headers.Add("Content-Type", "application/problem+json");
  std::string& b = r.body;
  b.reserve(128 + detail.size());
  b += R"({"type":"about:blank","title":")";
  b += ReasonPhrase(status);
  b += R"(","status":)";
  b += std::to_string(status);
  b += R"(,"detail":")";
  text::AppendJsonEscaped(b, detail);
  b += R"(","code":")";
  b += code;
  b += "\"}";
  return r;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

}  // namespace shop::http
