#include "shop/platform/log.h"

#include <unistd.h>

#include <atomic>
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

ThreadBuffer& Buffer() {
  thread_local ThreadBuffer buffer;
  return buffer;
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k), quoted(false) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  value = buf;
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

bool Enabled(Level level) { return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed); }

namespace {
void Append(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  std::string& out = Buffer().data;
  out += "{\"time\":\"";
  out += FormatRfc3339Millis(std::chrono::system_clock::now());
  out += "\",\"level\":\"";
  out += LevelName(level);
  out += "\",\"service\":\"";
  text::AppendJsonEscaped(out, ServiceName());
  out += "\",\"msg\":\"";
  text::AppendJsonEscaped(out, msg);
  out += '"';
  for (const Field& f : fields) {
    out += ",\"";
    out += f.key;
    out += "\":";
    if (f.quoted) {
      out += '"';
      text::AppendJsonEscaped(out, f.value);
      out += '"';
    } else {
      out += f.value;
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
