#include "shop/http/request_context.h"

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

std::string FastRandomHex(std::size_t count) {
  thread_local std::mt19937_64 engine([] {
    const std::string seed = RandomHex(8);
    return std::stoull(seed, nullptr, 16);
  }());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(count, '0');
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (i % 16 == 0) bits = engine();
    out[i] = kHex[bits & 0xf];
    bits >>= 4;
  }
  return out;
}

std::string OutgoingTraceparent() {
  RequestContext* ctx = CurrentRequest();
  std::string trace = ctx && !ctx->trace_id.empty() ? ctx->trace_id : FastRandomHex(32);
  if (ctx && ctx->trace_id.empty()) ctx->trace_id = trace;
  return "00-" + trace + "-" + FastRandomHex(16) + "-01";
}

}  // namespace shop::http
