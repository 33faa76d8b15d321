#pragma once

// The NATS C client behind shop::nats::Connection; internal to shop::nats.
#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <initializer_list>
#include <string>
#include <string_view>
#include <mutex>

#include "shop/nats/nats.h"
#include "shop/platform/log.h"

namespace shop::nats {

/// The status's text, with the library's last error for this thread when it has one (it names the
/// cause: "no responders", a JetStream error description).
inline std::string StatusText(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  if (const char* last = nats_GetLastError(nullptr); last && *last) text += std::string(": ") + last;
  return text;
}

/// Logs a failure at most every 5 s per call site, so a NATS outage does not flood the log.
inline void LogThrottled(std::atomic<std::int64_t>& last_ms, std::string_view msg, std::initializer_list<log::Field> fields) {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_ms.load(std::memory_order_relaxed);
  if (now - last < 5000 || !last_ms.compare_exchange_strong(last, now)) return;
  log::Write(log::Level::kWarn, msg, fields);
}

struct Connection::Impl {
  natsOptions* options = nullptr;
  natsConnection* conn = nullptr;
  jsCtx* js = nullptr;
  Connection* owner = nullptr;

  static void OnConnected(natsConnection*, void* closure) {
    auto* self = static_cast<Connection*>(closure);
    self->connected_.store(true, std::memory_order_release);
    self->epoch_.fetch_add(1, std::memory_order_acq_rel);
    log::Write(log::Level::kInfo, "nats connected", {{"url", self->url_}});
  }
  static void OnDisconnected(natsConnection*, void* closure) {
    auto* self = static_cast<Connection*>(closure);
    if (self->connected_.exchange(false)) log::Write(log::Level::kWarn, "nats disconnected", {{"url", self->url_}});
  }
  /// The library's last callback for a connection, after natsConnection_Close: callbacks run on
  /// the library's own thread, in order, so once this one ran no other will touch the Connection.
  static void OnClosed(natsConnection*, void* closure) {
    Impl& impl = *static_cast<Connection*>(closure)->impl_;
    std::lock_guard lock(impl.closed_mu);
    impl.closed = true;
    impl.closed_cv.notify_all();
  }

  std::mutex closed_mu;
  std::condition_variable closed_cv;
  bool closed = false;
};

}  // namespace shop::nats
