#include "shop/platform/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "shop/core/text.h"
#include "shop/core/time.h"

namespace shop::log {
namespace {

constexpr std::size_t kFlushAt = 32 * 1024;

std::string& ServiceName() {
  static std::string name = "shop";
  return name;
}
std::atomic<int> min_level{static_cast<int>(Level::kInfo)};
std::mutex write_mu;  // held only while one buffer is written to fd 1, never per line

constexpr std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void WriteAll(std::string_view data) {
  std::lock_guard lock(write_mu);
  while (!data.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // stdout is gone; logging must never take the server down
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

struct ThreadBuffer {
  std::string data;
  ~ThreadBuffer() {
    if (!data.empty()) WriteAll(data);
  }
};

/// Appends the current time as RFC 3339 UTC with milliseconds. The part up to the second is
/// formatted once per second per thread; a request log line pays only for the milliseconds.
void AppendTimestamp(std::string& out) {
  thread_local std::int64_t cached_second = -1;
  thread_local std::string cached_prefix;  // "2026-11-21T10:00:00."
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::int64_t second = ms / 1000;
  if (second != cached_second) {
    cached_second = second;
    cached_prefix = FormatRfc3339(second);
    cached_prefix.back() = '.';  // "...:00Z" -> "...:00."
  }
  out += cached_prefix;
  const int millis = static_cast<int>(ms % 1000);
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += 'Z';
}

ThreadBuffer& Buffer() {
  thread_local ThreadBuffer buffer;
  return buffer;
}

}  // namespace

Field::Field(std::string_view k, long long v) : key_(k), quoted_(false) {
  auto [end, ec] = std::to_chars(number_, number_ + sizeof number_, v);
  value_ = std::string_view(number_, static_cast<std::size_t>(end - number_));
}

Field::Field(std::string_view k, double v) : key_(k), quoted_(false) {
  // Thousandths as an integer: every request's duration_ms goes through here, and to_chars of a double
  // with a precision cost ~450 instructions (callgrind); this is ~30. Outside that range (never a
  // duration), the general path.
  if (v > -1e15 && v < 1e15) {
    long long thousandths = std::llround(v * 1000.0);
    char* p = number_;
    if (thousandths < 0) {
      *p++ = '-';
      thousandths = -thousandths;
    }
    auto [end, ec] = std::to_chars(p, number_ + sizeof number_ - 4, thousandths / 1000);
    const int fraction = static_cast<int>(thousandths % 1000);
    end[0] = '.';
    end[1] = static_cast<char>('0' + fraction / 100);
    end[2] = static_cast<char>('0' + fraction / 10 % 10);
    end[3] = static_cast<char>('0' + fraction % 10);
    value_ = std::string_view(number_, static_cast<std::size_t>(end + 4 - number_));
    return;
  }
  auto [end, ec] = std::to_chars(number_, number_ + sizeof number_, v, std::chars_format::fixed, 3);
  value_ = ec == std::errc() ? std::string_view(number_, static_cast<std::size_t>(end - number_)) : "0";
}

Field::Field(const Field& other) : key_(other.key_), value_(other.value_), quoted_(other.quoted_) {
  if (value_.data() >= other.number_ && value_.data() < other.number_ + sizeof other.number_) {
    std::copy(other.number_, other.number_ + sizeof number_, number_);
    value_ = std::string_view(number_ + (value_.data() - other.number_), value_.size());
  }
}

bool ParseLevel(std::string_view text, Level& out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == LevelName(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void Configure(std::string service, Level level) {
  ServiceName() = std::move(service);
  min_level = static_cast<int>(level);
}

void SetLevel(Level level) { min_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool Enabled(Level level) { return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed); }

namespace {
void Append(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  std::string& out = Buffer().data;
  out += "{\"time\":\"";
  AppendTimestamp(out);
  out += "\",\"level\":\"";
  out += LevelName(level);
  out += "\",\"service\":\"";
  text::AppendJsonEscaped(out, ServiceName());
  out += "\",\"msg\":\"";
  text::AppendJsonEscaped(out, msg);
  out += '"';
  for (const Field& f : fields) {
    out += ",\"";
    // A field may not take the name of the line's own members: a second "service" would make the
    // line's producer ambiguous (JSON readers keep one of two equal names, RFC 8259 4), and log
    // collectors file lines by it. It is written as "field_<name>".
    const std::string_view key = f.key();
    if (key == "time" || key == "level" || key == "service" || key == "msg") out += "field_";
    out += key;
    out += "\":";
    if (f.quoted()) {
      out += '"';
      text::AppendJsonEscaped(out, f.value());
      out += '"';
    } else {
      out += f.value();
    }
  }
  out += "}\n";
}
}  // namespace

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  Append(level, msg, fields);
  FlushThisThread();
}

void WriteBuffered(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  Append(level, msg, fields);
  if (Buffer().data.size() >= kFlushAt) FlushThisThread();
}

void FlushThisThread() {
  std::string& out = Buffer().data;
  if (out.empty()) return;
  WriteAll(out);
  out.clear();
}

}  // namespace shop::log
