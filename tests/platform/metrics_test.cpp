#include "shop/platform/metrics.h"

#include <doctest/doctest.h>

TEST_CASE("requests are counted by route and status, with a cumulative histogram") {
  shop::metrics::HttpMetrics m("svc", "1.0");
  auto route = m.RegisterRoute("GET", "/products/{id}");
  CHECK(m.RegisterRoute("GET", "/products/{id}") == route);
  m.Record(route, 200, 0.0002);
  m.Record(route, 200, 0.003);
  m.Record(route, 404, 2.0);
  m.AddInFlight(2);
  const std::string text = m.Render();
  CHECK(text.find(R"(shop_http_requests_total{method="GET",route="/products/{id}",status="200"} 2)") != std::string::npos);
  CHECK(text.find(R"(shop_http_requests_total{method="GET",route="/products/{id}",status="404"} 1)") != std::string::npos);
  CHECK(text.find(R"(shop_http_request_duration_seconds_bucket{method="GET",route="/products/{id}",le="0.00025"} 1)") !=
        std::string::npos);
  CHECK(text.find(R"(shop_http_request_duration_seconds_bucket{method="GET",route="/products/{id}",le="0.005"} 2)") !=
        std::string::npos);
  CHECK(text.find(R"(shop_http_request_duration_seconds_bucket{method="GET",route="/products/{id}",le="+Inf"} 3)") !=
        std::string::npos);
  CHECK(text.find(R"(shop_http_request_duration_seconds_count{method="GET",route="/products/{id}"} 3)") !=
        std::string::npos);
  CHECK(text.find("shop_http_requests_in_flight 2\n") != std::string::npos);
  CHECK(text.find("# TYPE process_cpu_seconds_total counter") != std::string::npos);
  CHECK(text.find("process_resident_memory_bytes ") != std::string::npos);
  CHECK(text.find(R"(shop_build_info{service="svc",version="1.0"} 1)") != std::string::npos);
}
