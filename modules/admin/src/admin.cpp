#include "shop/admin/admin.h"

#include <boost/json.hpp>

#include "shop/core/time.h"
#include "shop/http/adapter.h"

namespace shop::admin {
namespace {

namespace json = boost::json;

/// A config item as JSON text. Written by hand, not through boost::json::value, for its numbers:
/// Boost.JSON 1.81 writes the double 2.5 as `2.5E0`; config::ToJsonText writes `2.5`.
std::string ItemJson(const config::Entry& entry) {
  return R"({"key":)" + json::serialize(json::value(entry.spec->key)) + R"(,"value":)" +
         config::ToJsonText(entry.value) + R"(,"default":)" + config::ToJsonText(entry.spec->default_value) +
         R"(,"updated_at":)" + (entry.updated_at ? "\"" + FormatRfc3339(*entry.updated_at) + "\"" : std::string("null")) +
         "}";
}

/// The admin caller, or the 401/403 to answer with.
std::optional<http::Response> RequireAdmin(const http::Request& request, const auth::Verifier& verifier) {
  auto caller = http::Authenticate(request, verifier);
  if (!caller) return std::move(caller.error());
  if (!caller->IsAdmin()) return http::Problem(403, "forbidden", "the admin API needs an admin token");
  return std::nullopt;
}

/// The JSON value of `{"value": V}` as a config value of `spec`'s type, or the 400 to answer with.
std::expected<config::Value, http::Response> ValueFromBody(const http::Request& request, const config::KeySpec& spec) {
  auto body = http::ParseJsonBody(request);
  if (!body) return std::unexpected(std::move(body.error()));
  if (body->size() != 1 || !body->contains("value")) {
    return std::unexpected(http::Problem(400, "validation_failed", "the body must be {\"value\": V}"));
  }
  const json::value& v = body->at("value");
  config::Value value;
  if (v.is_string()) {
    value = std::string(v.as_string());
  } else if (v.is_int64()) {
    value = v.as_int64();
  } else if (v.is_uint64()) {
    value = static_cast<double>(v.as_uint64());  // beyond int64: out of every range anyway
  } else if (v.is_double()) {
    value = v.as_double();
  } else {
    return std::unexpected(http::Problem(400, "validation_failed", std::string(spec.key) + " must be a " +
                                                                       (spec.type == config::Type::kString ? "string" : "number")));
  }
  if (auto problem = config::Check(spec, value)) {
    return std::unexpected(http::Problem(400, "validation_failed", std::string(spec.key) + " " + *problem));
  }
  return value;
}

std::string HostPort(std::string_view url) {
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  return std::string(url.substr(0, url.find('/')));
}

}  // namespace

SelfDirectory::SelfDirectory(std::string service, std::string version) : service_(std::move(service)) {
  self_.id = service_ + "-" + std::to_string(::getpid());
  self_.version = std::move(version);
  self_.started_at = FormatRfc3339(UnixNow());
}

void SelfDirectory::SetUrl(std::string url) {
  std::lock_guard lock(mu_);
  self_.url = std::move(url);
}

std::vector<Service> SelfDirectory::Services() const {
  std::lock_guard lock(mu_);
  Instance self = self_;
  self.last_seen_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return {Service{service_, {std::move(self)}}};
}

void AddRoutes(http::App& app, config::Config& config, config::Store& store, const Directory& directory,
               const auth::Verifier& verifier) {
  app.Guard("/admin", [&verifier](const http::Request& request) { return RequireAdmin(request, verifier); });
  http::Router& router = app.router();
  router.Add("GET", "/admin/config", [&config, &verifier](const http::Context& ctx) {
    if (auto denied = RequireAdmin(ctx.request, verifier)) return std::move(*denied);
    std::string items;
    for (const config::Entry& entry : config.Current()->entries) {
      if (entry.spec->central) items += (items.empty() ? "" : ",") + ItemJson(entry);
    }
    return http::JsonResponse(200, R"({"items":[)" + items + "]}");
  });
  router.Add(
      "PUT", "/admin/config/{key}",
      [&config, &store, &verifier](const http::Context& ctx) {
        if (auto denied = RequireAdmin(ctx.request, verifier)) return std::move(*denied);
        const config::KeySpec* spec = config::FindKey(ctx.params[0]);
        if (!spec || !spec->central) return http::Problem(404, "not_found", "no configuration key " + std::string(ctx.params[0]));
        auto value = ValueFromBody(ctx.request, *spec);
        if (!value) return std::move(value.error());
        const config::CentralValue central{std::move(*value), UnixNow()};
        if (!store.Put(spec->key, central)) {  // applied here too when it returns true
          return http::Problem(503, "dependency_unavailable", "the configuration store cannot be written now");
        }
        return http::JsonResponse(200, ItemJson(config.Current()->Find(spec->key)));
      },
      http::RouteOptions{.json_body = true});
  router.Add("DELETE", "/admin/config/{key}", [&config, &store, &verifier](const http::Context& ctx) {
    if (auto denied = RequireAdmin(ctx.request, verifier)) return std::move(*denied);
    const config::KeySpec* spec = config::FindKey(ctx.params[0]);
    if (!spec || !spec->central) return http::Problem(404, "not_found", "no configuration key " + std::string(ctx.params[0]));
    if (!store.Remove(spec->key)) {  // applied here too when it returns true
      return http::Problem(503, "dependency_unavailable", "the configuration store cannot be written now");
    }
    return http::JsonResponse(200, ItemJson(config.Current()->Find(spec->key)));
  });
  router.Add("GET", "/admin/services", [&directory, &verifier](const http::Context& ctx) {
    if (auto denied = RequireAdmin(ctx.request, verifier)) return std::move(*denied);
    json::array services;
    for (const Service& service : directory.Services()) {
      json::array instances;
      for (const Instance& i : service.instances) {
        instances.push_back(json::object{
            {"id", i.id},
            {"url", i.url},
            {"version", i.version},
            {"started_at", i.started_at},
            {"last_seen", FormatRfc3339Millis(std::chrono::system_clock::time_point(std::chrono::milliseconds(i.last_seen_ms)))},
            {"compatible", i.compatible}});
      }
      services.push_back(json::object{{"name", service.name}, {"instances", std::move(instances)}});
    }
    return http::JsonValue(200, json::object{{"services", std::move(services)}});
  });
  router.Add("GET", "/admin/services/prometheus", [&directory, &verifier](const http::Context& ctx) {
    if (auto denied = RequireAdmin(ctx.request, verifier)) return std::move(*denied);
    json::array groups;
    for (const Service& service : directory.Services()) {
      for (const Instance& i : service.instances) {
        groups.push_back(json::object{
            {"targets", json::array{json::value(HostPort(i.url))}},
            {"labels", json::object{{"service", service.name}, {"instance", i.id}, {"version", i.version}}}});
      }
    }
    return http::JsonValue(200, groups);
  });
}

}  // namespace shop::admin
