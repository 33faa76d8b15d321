#include "shop/runtime/events.h"

#include <cstdio>

#include "shop/platform/metrics.h"

namespace shop::runtime {
namespace {

using metrics::Header;

std::string Number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", value);
  return buffer;
}

}  // namespace

void EventRelays::Add(std::string module, sql::Database& db, events::Publisher& publisher,
                      std::string destination) {
  events::Relay::Options options;
  options.destination = std::move(destination);
  relays_.push_back({std::move(module), std::make_unique<events::Relay>(db, publisher, std::move(options))});
}

std::string EventRelays::State() const {
  std::string failing;
  for (const Entry& e : relays_) {
    if (e.relay->stats().publisher_up) continue;
    failing += failing.empty() ? "publishing_failed:" : ",";
    failing += e.module + "/" + e.relay->destination();
  }
  return failing.empty() ? "ok" : failing;
}

bool EventRelays::WaitDrained(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (Entry& e : relays_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!e.relay->WaitDrained(std::max(left, std::chrono::milliseconds(0)))) return false;
  }
  return true;
}

std::string ConsumerMetricsText(const events::ConsumerStats& s) {
  std::string out;
  Header(out, "shop_events_consumed_total", "counter", "Event deliveries this process's consumers applied (or found applied).");
  out += "shop_events_consumed_total " + std::to_string(s.consumed) + "\n";
  Header(out, "shop_events_redelivered_total", "counter", "Event deliveries that were not the first of their event.");
  out += "shop_events_redelivered_total " + std::to_string(s.redelivered) + "\n";
  Header(out, "shop_events_failed_total", "counter", "Event deliveries whose consumer failed (to be delivered again).");
  out += "shop_events_failed_total " + std::to_string(s.failed) + "\n";
  Header(out, "shop_events_set_aside_total", "counter", "Events given up on after their attempts, kept in dead_letters.");
  out += "shop_events_set_aside_total " + std::to_string(s.set_aside) + "\n";
  return out;
}

void EventRelays::Mount(http::App& app, const events::Subscriber* consumers) {
  app.AddStatusReport("events", [this] { return State(); });
  app.AddMetrics([this, consumers] {
    std::string published, failures, backlog, age;
    for (const Entry& e : relays_) {
      const events::Relay::Stats s = e.relay->stats();
      const std::string labels = "{module=\"" + e.module + "\",destination=\"" + e.relay->destination() + "\"} ";
      published += "shop_events_published_total" + labels + std::to_string(s.published) + "\n";
      failures += "shop_events_publish_failures_total" + labels + std::to_string(s.publish_failures) + "\n";
      backlog += "shop_outbox_backlog" + labels + std::to_string(s.backlog) + "\n";
      age += "shop_outbox_oldest_age_seconds" + labels + Number(s.oldest_backlog_seconds) + "\n";
    }
    std::string out;
    Header(out, "shop_events_published_total", "counter", "Events a destination accepted from this process's outboxes.");
    out += published;
    Header(out, "shop_events_publish_failures_total", "counter", "Publication attempts a destination refused.");
    out += failures;
    Header(out, "shop_outbox_backlog", "gauge", "Events committed but not yet accepted by the destination.");
    out += backlog;
    Header(out, "shop_outbox_oldest_age_seconds", "gauge", "Age of the oldest event not yet accepted (0 when none).");
    out += age;
    if (consumers) out += ConsumerMetricsText(consumers->stats());
    return out;
  });
}

}  // namespace shop::runtime
