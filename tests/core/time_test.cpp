#include "shop/core/time.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>

namespace {

/// The reference: the C library's calendar (gmtime_r), four-digit years as RFC 3339 asks.
std::string Reference(std::int64_t unix_seconds) {
  std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace

TEST_CASE("RFC 3339 timestamps agree with the C library's calendar, leap days and year ends included") {
  CHECK(shop::FormatRfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(shop::FormatRfc3339(951782400) == "2000-02-29T00:00:00Z");
  CHECK(shop::FormatRfc3339(253402300799) == "9999-12-31T23:59:59Z");
  CHECK(shop::FormatRfc3339(-1) == "1969-12-31T23:59:59Z");
  for (std::int64_t s : {68169599LL, 68169600LL, 1709164800LL, 4107542399LL, 4107542400LL, 1798761599LL}) {
    CHECK(shop::FormatRfc3339(s) == Reference(s));
  }
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> any(-62135596800LL, 253402300799LL);  // years 1..9999
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t s = any(rng);
    REQUIRE(shop::FormatRfc3339(s) == Reference(s));
  }
}

TEST_CASE("millisecond timestamps carry the milliseconds, floored before 1970 too") {
  using namespace std::chrono;
  const system_clock::time_point t{milliseconds{1764563041123}};
  CHECK(shop::FormatRfc3339Millis(t) == Reference(1764563041).substr(0, 19) + ".123Z");
  CHECK(shop::FormatRfc3339Millis(system_clock::time_point{milliseconds{-1}}) == "1969-12-31T23:59:59.999Z");
  CHECK(shop::FormatRfc3339Millis(system_clock::time_point{milliseconds{5}}) == "1970-01-01T00:00:00.005Z");
}
