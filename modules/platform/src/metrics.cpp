#include "shop/platform/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "shop/core/time.h"

namespace shop::metrics {
namespace {

const std::int64_t kProcessStart = UnixNow();

void AppendNumber(std::string& out, double v) {
  char buf[40];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest form that round-trips: 0.00025
  out.append(buf, ec == std::errc() ? end : buf);
}


void AppendProcessMetrics(std::string& out) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
               static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  Header(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
  out += "process_cpu_seconds_total ";
  AppendNumber(out, cpu);
  out += '\n';

  long pages_total = 0, pages_resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_total = pages_resident = 0;
    std::fclose(f);
  }
  const long page = sysconf(_SC_PAGESIZE);
  Header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  out += "process_resident_memory_bytes " + std::to_string(pages_resident * page) + '\n';
  Header(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  out += "process_virtual_memory_bytes " + std::to_string(pages_total * page) + '\n';
  Header(out, "process_max_resident_memory_bytes", "gauge", "Peak resident memory size in bytes.");
  out += "process_max_resident_memory_bytes " + std::to_string(usage.ru_maxrss * 1024L) + '\n';

  std::error_code ec;
  long fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::end(it);
       it.increment(ec)) {
    ++fds;
  }
  Header(out, "process_open_fds", "gauge", "Number of open file descriptors.");
  out += "process_open_fds " + std::to_string(fds) + '\n';
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  Header(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
  out += "process_max_fds " + std::to_string(static_cast<long long>(nofile.rlim_cur)) + '\n';
  Header(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
  out += "process_start_time_seconds " + std::to_string(kProcessStart) + '\n';
}

}  // namespace

HttpMetrics::HttpMetrics(std::string service, std::string version)
    : service_(std::move(service)), version_(std::move(version)) {}

HttpMetrics::RouteId HttpMetrics::RegisterRoute(std::string_view method, std::string_view route) {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].method == method && routes_[i].route == route) return i;
  }
  Route& r = routes_.emplace_back();
  r.method = method;
  r.route = route;
  return routes_.size() - 1;
}

void HttpMetrics::Record(RouteId id, int status, double seconds) {
  Route& r = routes_[id];
  if (status >= 0 && status < static_cast<int>(r.by_status.size())) {
    r.by_status[static_cast<std::size_t>(status)].fetch_add(1, std::memory_order_relaxed);
  }
  std::size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  r.buckets[b].fetch_add(1, std::memory_order_relaxed);
  r.sum_micros.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

std::string HttpMetrics::Render() const {
  std::string out;
  out.reserve(16 * 1024);
  Header(out, "shop_build_info", "gauge", "Service name and version of this process.");
  out += "shop_build_info{service=\"" + service_ + "\",version=\"" + version_ + "\"} 1\n";

  Header(out, "shop_http_requests_total", "counter", "HTTP requests answered, by method, route and status.");
  for (const Route& r : routes_) {
    for (std::size_t s = 0; s < r.by_status.size(); ++s) {
      std::uint64_t n = r.by_status[s].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out += "shop_http_requests_total{method=\"" + r.method + "\",route=\"" + r.route + "\",status=\"" +
             std::to_string(s) + "\"} " + std::to_string(n) + '\n';
    }
  }

  Header(out, "shop_http_request_duration_seconds", "histogram",
         "Time from a complete request to its response, by method and route.");
  for (const Route& r : routes_) {
    std::uint64_t cumulative = 0;
    const std::string labels = "method=\"" + r.method + "\",route=\"" + r.route + "\"";
    for (std::size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += r.buckets[b].load(std::memory_order_relaxed);
      out += "shop_http_request_duration_seconds_bucket{" + labels + ",le=\"";
      if (b < kBuckets.size()) {
        AppendNumber(out, kBuckets[b]);
      } else {
        out += "+Inf";
      }
      out += "\"} " + std::to_string(cumulative) + '\n';
    }
    out += "shop_http_request_duration_seconds_sum{" + labels + "} ";
    AppendNumber(out, static_cast<double>(r.sum_micros.load(std::memory_order_relaxed)) / 1e6);
    out += "\nshop_http_request_duration_seconds_count{" + labels + "} " + std::to_string(cumulative) + '\n';
  }

  Header(out, "shop_http_requests_in_flight", "gauge", "HTTP requests being handled now.");
  out += "shop_http_requests_in_flight " + std::to_string(in_flight_.load(std::memory_order_relaxed)) + '\n';
  AppendProcessMetrics(out);
  return out;
}

void Header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace shop::metrics
