#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "shop/events/events.h"
#include "shop/nats/nats.h"

namespace shop::nats {

/// The split layout's durable event consumer: each Subscription is a JetStream durable pull
/// consumer on stream `SHOP_EVENTS` (created if absent), named `subscription.consumer`, filtered
/// on `subscription.type`, with explicit acks; one thread per subscription fetches and handles
/// (https://docs.nats.io/nats-concepts/jetstream/consumers). The consumer lives in the server, not
/// in this object: what is published while no process consumes (this one stopped, NATS restarted
/// with its store) is delivered when one subscribes again under the same name, and processes that
/// subscribe under the same name share the work (each event goes to one of them).
///
/// Delivery is at least once, as PLATFORM.md "Events" promises: a handler may see an event again
/// (a failure, a lost ack, a process killed mid-event), so it must be idempotent (ClaimInInbox).
/// Unlike InProcessBus, an event that failed does not hold back later ones: it comes again after a
/// short back-off while the next events flow. Thread-safe.
class JetStreamSubscriber final : public events::Subscriber {
 public:
  /// Uses `connection` (which must outlive this object) for every subscription. Contacts nothing.
  explicit JetStreamSubscriber(Connection& connection);
  /// Stops every subscription's thread (within about one fetch wait, 0.5 s, plus the handler in
  /// progress) and frees the client's subscriptions; the durable consumers stay on the server
  /// with what they have not acked, for the next process that subscribes under their names.
  ~JetStreamSubscriber() override;
  JetStreamSubscriber(const JetStreamSubscriber&) = delete;
  JetStreamSubscriber& operator=(const JetStreamSubscriber&) = delete;

  /// Starts a thread that delivers the events of `subscription.type` to `subscription.handle`,
  /// from the consumer's position: a new durable name starts at the beginning of the stream. Never
  /// waits for NATS: while it is down the thread retries every second and logs at most every 5 s;
  /// a stream or consumer lost from the server (deleted, a store wiped) is noticed after 5 s
  /// without messages and created again, and then delivers the stream from its start.
  /// A handler that throws gets the event again after 100 ms x delivery count (at most 2 s); after
  /// `max_attempts` deliveries it goes to `set_aside` and is not delivered again. A message that is
  /// not CloudEvents JSON goes to `set_aside` at once (id = its Nats-Msg-Id, or `stream-seq-<n>`;
  /// type = its subject; data = the raw body). Throws std::invalid_argument when `consumer`, `type`
  /// or `handle` is missing, `consumer` is not [A-Za-z0-9_-]+, or `max_attempts` < 1.
  void Subscribe(events::Subscription subscription) override;
  /// Counts since construction, over every subscription; a delivery is `redelivered` when JetStream
  /// reports it is not the event's first (NumDelivered > 1), whatever its outcome.
  events::ConsumerStats stats() const override;

 private:
  struct Worker;  // one subscription and its thread (src/event_subscriber.cpp)

  bool Stopping();
  /// Waits `d`, or less when the destructor runs; false when stopping.
  bool Pause(std::chrono::milliseconds d);
  void Add(std::uint64_t events::ConsumerStats::*counter);

  Connection& connection_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;                         // guarded by mu_
  std::vector<std::unique_ptr<Worker>> workers_;  // guarded by mu_
  mutable std::mutex stats_mu_;
  events::ConsumerStats stats_;  // guarded by stats_mu_
};

}  // namespace shop::nats
