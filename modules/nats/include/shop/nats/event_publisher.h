#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

#include "shop/events/events.h"
#include "shop/nats/nats.h"

namespace shop::nats {

/// Publishes domain events to JetStream stream `SHOP_EVENTS` (subjects `shop.>`, file storage,
/// created if absent, and again if it is lost), subject = the event's type, body = its CloudEvents JSON, and the event id as
/// `Nats-Msg-Id`, so the broker drops a repeat within its duplicate window (2 minutes, the
/// JetStream default) when a relay publishes again after a lost ack. Thread-safe.
class JetStreamPublisher final : public events::Publisher {
 public:
  explicit JetStreamPublisher(Connection& connection);
  /// True once JetStream acknowledged the event (stored, or a duplicate it already had); false when
  /// NATS is down or refused, and the relay keeps the event to send again.
  bool Publish(const events::Event& event) override;

 private:
  bool EnsureStream();
  Connection& connection_;
  std::mutex mu_;
  bool stream_ready_ = false;  // guarded by mu_
  std::atomic<std::int64_t> last_error_log_ms_{0};
};

/// The name and subjects of the event stream (PLATFORM.md "Events").
inline constexpr const char* kEventStream = "SHOP_EVENTS";
inline constexpr const char* kEventSubjects = "shop.>";
/// How long the stream keeps an event (its MaxAge when this layer creates it): 7 days.
inline constexpr std::chrono::hours kEventRetention{24 * 7};

}  // namespace shop::nats
