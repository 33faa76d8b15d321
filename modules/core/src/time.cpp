#include "shop/core/time.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <ctime>

namespace shop {

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

/// Writes `value` as exactly `width` decimal digits (zero-padded) at `out`.
char* Digits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

/// "YYYY-MM-DDThh:mm:ss" for `unix_seconds`, by civil-calendar arithmetic (std::chrono, Hinnant's
/// days_from_civil inverse) instead of gmtime_r + snprintf: this runs for several timestamps per
/// order and per log line, where snprintf cost ≈2,700 instructions a call (callgrind). Years outside
/// 0000-9999 keep snprintf's wider form.
std::string DateTime(std::int64_t unix_seconds, std::size_t extra) {
  using namespace std::chrono;
  const sys_seconds t{seconds{unix_seconds}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{t - day};
  const int y = static_cast<int>(ymd.year());
  std::string text;
  if (y < 0 || y > 9999) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", y, static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
    text = buf;
    text.reserve(text.size() + extra);
    return text;
  }
  text.resize(19);
  char* out = text.data();
  out = Digits(out, static_cast<unsigned>(y), 4);
  *out++ = '-';
  out = Digits(out, static_cast<unsigned>(ymd.month()), 2);
  *out++ = '-';
  out = Digits(out, static_cast<unsigned>(ymd.day()), 2);
  *out++ = 'T';
  out = Digits(out, static_cast<unsigned>(hms.hours().count()), 2);
  *out++ = ':';
  out = Digits(out, static_cast<unsigned>(hms.minutes().count()), 2);
  *out++ = ':';
  Digits(out, static_cast<unsigned>(hms.seconds().count()), 2);
  text.reserve(19 + extra);
  return text;
}

}  // namespace

std::string FormatRfc3339(std::int64_t unix_seconds) {
  std::string text = DateTime(unix_seconds, 1);
  text += 'Z';
  return text;
}

std::string FormatRfc3339Millis(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t).time_since_epoch().count();
  const auto secs = static_cast<std::int64_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);  // floor
  std::string text = DateTime(secs, 5);
  char millis[5] = {'.', '0', '0', '0', 'Z'};
  Digits(millis + 1, static_cast<unsigned>(ms - secs * 1000), 3);
  text.append(millis, sizeof millis);
  return text;
}

}  // namespace shop
