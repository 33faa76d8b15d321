#include "shop/http/router.h"

#include <algorithm>
#include <array>
#include <span>
#include <charconv>
#include <stdexcept>

namespace shop::http {
namespace {

/// The segments of a path, without allocating: at most kMaxSegments (a longer path matches no route).
constexpr std::size_t kMaxSegments = 8;
struct Segments {
  std::array<std::string_view, kMaxSegments + 1> items{};
  std::size_t size = 0;
};

Segments SplitPath(std::string_view path) {
  Segments out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (out.size < out.items.size()) {
    auto slash = path.find('/');
    out.items[out.size++] = path.substr(0, slash);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool IsPlaceholder(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::optional<std::int64_t> Context::IdParam(std::size_t index) const {
  std::string_view text = params.at(index);
  if (text.empty() || text.size() > 18 || text.front() == '0') return std::nullopt;
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

void Router::Add(std::string_view method, std::string_view pattern, Handler handler, RouteOptions options) {
  Route route{std::string(method), std::string(pattern), {}, std::move(handler), options};
  std::size_t placeholders = 0;
  const Segments segments = SplitPath(pattern);
  for (std::size_t i = 0; i < segments.size; ++i) {
    if (IsPlaceholder(segments.items[i])) ++placeholders;
    route.segments.emplace_back(segments.items[i]);
  }
  if (route.segments.empty() || route.segments.size() > kMaxSegments || placeholders > Context::kMaxParams) {
    throw std::logic_error("bad route pattern " + std::string(pattern));
  }
  routes_.push_back(std::move(route));
}

void Router::AddAsync(std::string_view method, std::string_view pattern, AsyncHandler handler,
                      RouteOptions options) {
  Add(method, pattern, nullptr, options);
  routes_.back().async_handler = std::move(handler);
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match match;
  std::vector<std::string_view> allowed;
  const Segments split = SplitPath(path);
  const std::span<const std::string_view> segments(split.items.data(), split.size);
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::array<std::string_view, Context::kMaxParams> params{};
    std::size_t n = 0;
    bool same = true;
    for (std::size_t i = 0; i < segments.size() && same; ++i) {
      if (IsPlaceholder(route.segments[i])) {
        if (segments[i].empty()) same = false;
        else params[n++] = segments[i];
      } else {
        same = route.segments[i] == segments[i];
      }
    }
    if (!same) continue;
    if (route.method == method) {
      match.route = &route;
      match.params = params;
      return match;
    }
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), route.method) != allowed.end()) continue;
    allowed.push_back(route.method);
    if (!match.allowed.empty()) match.allowed += ", ";
    match.allowed += route.method;
  }
  return match;
}

}  // namespace shop::http
