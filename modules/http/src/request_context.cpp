#include "shop/http/request_context.h"

#include <array>
#include <cstdint>
#include <random>

#include "shop/core/random.h"

namespace shop::http {
namespace {

thread_local RequestContext* current = nullptr;

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

RequestContext* CurrentRequest() { return current; }

RequestScope::RequestScope(RequestContext& context) : previous_(current) { current = &context; }
RequestScope::~RequestScope() { current = previous_; }

std::string_view TraceIdFrom(std::string_view tp) {
  if (tp.size() != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return {};
  std::string_view version = tp.substr(0, 2), trace = tp.substr(3, 32), parent = tp.substr(36, 16),
                   flags = tp.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(trace) || !IsLowerHex(parent) || !IsLowerHex(flags)) {
    return {};
  }
  if (trace == std::string_view("00000000000000000000000000000000") || parent == std::string_view("0000000000000000")) {
    return {};
  }
  return trace;
}

namespace {
thread_local void* this_thread_event_loop = nullptr;
}  // namespace

void* ThisThreadEventLoop() { return this_thread_event_loop; }
void SetThisThreadEventLoop(void* loop) { this_thread_event_loop = loop; }

namespace {
thread_local std::function<void(std::function<void()>)> this_thread_deferral;
}  // namespace

void Defer(std::function<void()> task) {
  if (this_thread_deferral) {
    this_thread_deferral(std::move(task));
  } else {
    task();
  }
}

void SetThisThreadDeferral(std::function<void(std::function<void()>)> defer) {
  this_thread_deferral = std::move(defer);
}

namespace {
thread_local std::function<void(std::chrono::microseconds, std::function<void()>)> this_thread_timed_deferral;
}  // namespace

void DeferFor(std::chrono::microseconds delay, std::function<void()> task) {
  if (this_thread_timed_deferral) {
    this_thread_timed_deferral(delay, std::move(task));
  } else {
    task();
  }
}

void SetThisThreadTimedDeferral(std::function<void(std::chrono::microseconds, std::function<void()>)> defer) {
  this_thread_timed_deferral = std::move(defer);
}

namespace {

/// Appends `count` random lower-case hex digits: two digits per table lookup, from a per-thread
/// generator (ids, not secrets).
void AppendRandomHex(std::string& out, std::size_t count) {
  thread_local std::mt19937_64 engine([] {
    const std::string seed = RandomHex(8);
    return std::stoull(seed, nullptr, 16);
  }());
  static constexpr auto kPairs = [] {
    std::array<char, 512> table{};
    constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 256; ++i) {
      table[2 * i] = kHex[i >> 4];
      table[2 * i + 1] = kHex[i & 0xf];
    }
    return table;
  }();
  const std::size_t start = out.size();
  out.resize(start + count);
  char* p = out.data() + start;
  while (count > 0) {
    std::uint64_t bits = engine();
    for (int byte = 0; byte < 8 && count > 0; ++byte, bits >>= 8) {
      const char* pair = &kPairs[2 * (bits & 0xff)];
      *p++ = pair[0];
      if (--count == 0) break;
      *p++ = pair[1];
      --count;
    }
  }
}

}  // namespace

std::string FastRandomHex(std::size_t count) {
  std::string out;
  AppendRandomHex(out, count);
  return out;
}

std::string OutgoingTraceparent() {
  RequestContext* ctx = CurrentRequest();
  if (ctx && ctx->trace_id.empty()) AppendRandomHex(ctx->trace_id, 32);
  std::string out;
  out.reserve(55);
  out += "00-";
  if (ctx) {
    out += ctx->trace_id;
  } else {
    AppendRandomHex(out, 32);
  }
  out += '-';
  AppendRandomHex(out, 16);
  out += "-01";
  return out;
}

}  // namespace shop::http
