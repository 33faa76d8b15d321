#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace shop {

/// Seconds since the Unix epoch, now.
std::int64_t UnixNow();

/// RFC 3339 UTC with second precision, e.g. `2026-11-21T10:00:00Z`.
std::string FormatRfc3339(std::int64_t unix_seconds);

/// RFC 3339 UTC with millisecond precision, for logs.
std::string FormatRfc3339Millis(std::chrono::system_clock::time_point t);

}  // namespace shop
