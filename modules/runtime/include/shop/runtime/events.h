#pragma once

#include <memory>
#include <string>
#include <vector>

#include "shop/events/events.h"
#include "shop/http/app.h"
#include "shop/sql/database.h"

namespace shop::runtime {

/// A process's outbox relays, one per module database and destination (PLATFORM.md "Events"), with
/// their figures on /metrics and their state in /health/ready. Declare it after the databases and
/// publishers it uses, so it stops first.
class EventRelays {
 public:
  EventRelays() = default;
  EventRelays(const EventRelays&) = delete;
  EventRelays& operator=(const EventRelays&) = delete;

  /// Starts relaying module `module`'s outbox on `db` to `publisher`, with its own cursor
  /// `destination` ("in_process", "jetstream"). `db` and `publisher` must outlive this object.
  void Add(std::string module, sql::Database& db, events::Publisher& publisher, std::string destination);

  /// Adds to `app`'s /metrics, per module and destination: shop_events_published_total,
  /// shop_events_publish_failures_total, shop_outbox_backlog, shop_outbox_oldest_age_seconds; and,
  /// when `consumers` is given, shop_events_consumed_total, shop_events_redelivered_total,
  /// shop_events_failed_total, shop_events_set_aside_total. /health/ready's check "events" reports
  /// State() without deciding readiness: the process keeps serving while a broker is away.
  void Mount(http::App& app, const events::Subscriber* consumers);

  /// "ok" while every relay's last attempt was accepted, else "publishing_failed:" and the
  /// module/destination pairs that are failing, e.g. "publishing_failed:orders/jetstream".
  std::string State() const;
  /// Blocks until every relay has published what was committed, or `timeout` passes.
  bool WaitDrained(std::chrono::milliseconds timeout);

 private:
  struct Entry {
    std::string module;
    std::unique_ptr<events::Relay> relay;
  };
  std::vector<Entry> relays_;
};

/// The Prometheus text of a process's consumer counts (the families Mount adds).
std::string ConsumerMetricsText(const events::ConsumerStats& stats);

}  // namespace shop::runtime
