// API.md "Operations": health, readiness, Prometheus metrics, and one JSON log line per request.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "api_client.h"
#include "server_harness.h"

namespace shop::e2e {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// Sum of the samples of `metric` whose line contains every one of `parts`.
double SumSamples(const std::string& exposition, std::string_view metric, const std::vector<std::string>& parts) {
  double sum = 0;
  for (const std::string& line : Lines(exposition)) {
    if (!line.starts_with(std::string(metric) + "{") && !line.starts_with(std::string(metric) + " ")) continue;
    bool all = true;
    for (const std::string& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

/// The stdout log line (a JSON object) whose values include `request_id`, waiting for it to be written.
std::optional<boost::json::object> LogLineFor(const std::string& request_id) {
  std::optional<boost::json::object> found;
  Eventually(
      [&] {
        for (const std::string& line : Lines(TestServer::Get().process().ReadStdout())) {
          if (line.find(request_id) == std::string::npos) continue;
          boost::system::error_code ec;
          boost::json::value v = boost::json::parse(line, ec);
          if (!ec && v.is_object()) found = v.as_object();
          return true;
        }
        return false;
      },
      std::chrono::seconds(10));
  return found;
}

}  // namespace

TEST_SUITE("operations") {
  TEST_CASE("GET /health/live is 200") {
    Api api;
    CHECK(api.Get("/health/live").status == 200);
  }

  TEST_CASE("GET /health/ready is 200 with status, service, version and checks") {
    Api api;
    HttpResponse r = api.Get("/health/ready");
    REQUIRE(r.status == 200);
    boost::json::value v = r.Json();
    REQUIRE(v.is_object());
    CHECK(!Str(v, "status").empty());
    CHECK(!Str(v, "service").empty());
    CHECK(!Str(v, "version").empty());
    REQUIRE(v.as_object().contains("checks"));
    CHECK(v.at("checks").is_object());
  }

  TEST_CASE("GET /metrics is Prometheus text with request counts, latency histograms, in-flight and process figures") {
    Api api;
    std::string before = api.Get("/metrics").body;
    for (int i = 0; i < 3; ++i) REQUIRE(api.Get("/health/live").status == 200);
    REQUIRE(api.Get("/no/such/metric/path").status == 404);
    HttpResponse r = api.Get("/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.Header("Content-Type").starts_with("text/plain"));
    const std::string& text = r.body;
    CHECK(text.find("shop_http_requests_total") != std::string::npos);
    CHECK(text.find("# TYPE shop_http_requests_total counter") != std::string::npos);
    CHECK(text.find("process_") != std::string::npos);
    CHECK(text.find("_bucket{") != std::string::npos);
    CHECK(text.find("le=\"+Inf\"") != std::string::npos);
    CHECK(text.find("histogram") != std::string::npos);
    CHECK(text.find("in_flight") != std::string::npos);

    static const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? )"
                                   R"(([-+]?[0-9.]+([eE][-+]?[0-9]+)?|[-+]?Inf|NaN)( [0-9]+)?$)");
    for (const std::string& line : Lines(text)) {
      if (line.empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
      CAPTURE(line);
      CHECK(std::regex_match(line, sample));
    }
    const double live_before = SumSamples(before, "shop_http_requests_total", {"/health/live", "\"200\""});
    const double live_after = SumSamples(text, "shop_http_requests_total", {"/health/live", "\"200\""});
    CHECK(live_after - live_before >= 3);
    CHECK(SumSamples(text, "shop_http_requests_total", {"\"404\""}) >= 1);
  }

  TEST_CASE("one JSON log line per request on stdout") {
    TestServer& server = TestServer::Get();
    if (!server.managed()) {
      MESSAGE("skipped: the server's stdout is not visible with SHOP_E2E_BASE_URL");
      return;
    }
    Api api;
    std::int64_t product = Int(CreateProduct(api, 1, 1, "log"), "id");
    const std::string id = "e2e-log-" + RandomHexString(8);
    REQUIRE(api.Get("/products/" + std::to_string(product), {}, {{"X-Request-Id", id}}).status == 200);
    const std::string missing_id = "e2e-log-404-" + RandomHexString(8);
    REQUIRE(api.Get("/no/such/log/path", {}, {{"X-Request-Id", missing_id}}).status == 404);

    std::optional<boost::json::object> line = LogLineFor(id);
    REQUIRE_MESSAGE(line.has_value(), "no JSON log line with request id ", id);
    CAPTURE(Dump(*line));
    for (const char* key : {"time", "level", "service", "method", "route", "status"}) {
      CAPTURE(std::string(key));
      CHECK(line->contains(key));
    }
    CHECK(IsRfc3339Utc(Str(*line, "time")));
    CHECK(Str(*line, "method") == "GET");
    CHECK(Int(*line, "status") == 200);
    std::string route = Str(*line, "route");
    CHECK(route.starts_with("/products/"));
    CHECK_MESSAGE(route.find(std::to_string(product)) == std::string::npos,
                  "route should be the pattern, not the path");
    bool has_request_id = false, has_duration = false;
    for (const auto& kv : *line) {
      has_request_id = has_request_id || (kv.value().is_string() && kv.value().as_string() == id);
      has_duration = has_duration || (kv.key().starts_with("duration") && kv.value().is_number());
    }
    CHECK(has_request_id);
    CHECK(has_duration);

    std::optional<boost::json::object> not_found = LogLineFor(missing_id);
    REQUIRE(not_found.has_value());
    CHECK(Int(*not_found, "status") == 404);

    // Every complete line on stdout is one JSON object.
    std::string out = server.process().ReadStdout();
    out = out.substr(0, out.rfind('\n') + 1);
    for (const std::string& l : Lines(out)) {
      CAPTURE(l);
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(l, ec);
      CHECK(!ec);
      CHECK(v.is_object());
    }
  }
}

}  // namespace shop::e2e
