// The split layout's durable event consumer against a real nats-server with JetStream and the real
// publisher: a new durable gets what was published before it, each event is acked once handled, a
// failure is delivered again, a poison event is set aside after max_attempts and an unreadable one at
// once while later events flow, and nothing is lost when NATS restarts or the consumer is away.
#include "shop/nats/event_subscriber.h"

#include <doctest/doctest.h>
#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "service_process.h"
#include "shop/nats/event_publisher.h"
#include "temp_dir.h"

namespace {

using namespace shop;
using namespace std::chrono_literals;

constexpr const char* kType = "shop.orders.order_cancelled.v1";
constexpr const char* kOtherType = "shop.orders.order_placed.v1";
constexpr auto kDeadline = 20s;

/// What handlers and set_aside saw, in order; waits on a condition variable, never a fixed sleep.
class Recorder {
 public:
  struct Aside {
    events::Event event;
    std::string error;
    int attempts;
  };

  /// A handler that records every delivery and then throws when `fail` says so.
  std::function<void(const events::Event&)> Handler(std::function<bool(const events::Event&, int)> fail = {}) {
    return [this, fail = std::move(fail)](const events::Event& e) {
      int delivery;
      {
        std::lock_guard lock(mu_);
        deliveries_.push_back(e.id);
        delivery = static_cast<int>(std::count(deliveries_.begin(), deliveries_.end(), e.id));
      }
      cv_.notify_all();
      if (fail && fail(e, delivery)) throw std::runtime_error("cannot apply " + e.id + " now");
      std::lock_guard lock(mu_);
      applied_.push_back(e.id);
      cv_.notify_all();
    };
  }
  /// A set_aside that records, after throwing `failures` times.
  std::function<void(const events::Event&, std::string_view, int)> SetAside(int failures = 0) {
    return [this, failures](const events::Event& e, std::string_view error, int attempts) mutable {
      if (failures-- > 0) throw std::runtime_error("dead letter table locked");
      std::lock_guard lock(mu_);
      aside_.push_back({e, std::string(error), attempts});
      cv_.notify_all();
    };
  }

  /// True once `done` holds for what was recorded, false after `deadline`.
  bool WaitFor(const std::function<bool(const Recorder&)>& done, std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return done(*this); });
  }

  // Read under the lock (inside WaitFor) or once the subscriber is gone.
  int Deliveries(const std::string& id) const {
    return static_cast<int>(std::count(deliveries_.begin(), deliveries_.end(), id));
  }
  bool Applied(const std::string& id) const {
    return std::find(applied_.begin(), applied_.end(), id) != applied_.end();
  }
  const std::vector<std::string>& deliveries() const { return deliveries_; }
  const std::vector<std::string>& applied() const { return applied_; }
  const std::vector<Aside>& aside() const { return aside_; }
  std::optional<Aside> AsideOf(const std::string& id) const {
    for (const Aside& a : aside_) {
      if (a.event.id == id) return a;
    }
    return std::nullopt;
  }

  std::vector<std::string> Snapshot() {
    std::lock_guard lock(mu_);
    return deliveries_;
  }
  /// Runs `read` on what was recorded, under the lock.
  void Read(const std::function<void(const Recorder&)>& read) {
    std::lock_guard lock(mu_);
    read(*this);
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> deliveries_;
  std::vector<std::string> applied_;
  std::vector<Aside> aside_;
};

/// Polls `done` until it holds or `deadline` passes (for state only NATS can tell).
bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline = kDeadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    nats_Sleep(20);  // polling a condition with a deadline
  }
  return done();
}

/// The subscriber's stats once `done` holds for them (it counts just after the handler returns), or
/// at the deadline.
events::ConsumerStats StatsWhen(const nats::JetStreamSubscriber& subscriber,
                                const std::function<bool(const events::ConsumerStats&)>& done) {
  PollUntil([&] { return done(subscriber.stats()); });
  return subscriber.stats();
}

/// Publishes through the real publisher, again until accepted (as the relay does) or the deadline.
bool PublishAccepted(nats::JetStreamPublisher& publisher, const events::Event& event) {
  return PollUntil([&] { return publisher.Publish(event); });
}

/// The test's own view of the server, with the C client directly.
class Probe {
 public:
  explicit Probe(const std::string& url) {
    REQUIRE(natsConnection_ConnectTo(&conn_, url.c_str()) == NATS_OK);
    REQUIRE(natsConnection_JetStream(&js_, conn_, nullptr) == NATS_OK);
  }
  ~Probe() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(conn_);
  }

  /// Messages of the consumer not yet delivered, and delivered but not acked; nullopt when it does not exist.
  struct Pending {
    std::uint64_t undelivered;
    std::int64_t unacked;
  };
  std::optional<Pending> Consumer(const std::string& durable) {
    jsConsumerInfo* info = nullptr;
    if (js_GetConsumerInfo(&info, js_, nats::kEventStream, durable.c_str(), nullptr, nullptr) != NATS_OK) {
      return std::nullopt;
    }
    Pending p{info->NumPending, info->NumAckPending};
    jsConsumerInfo_Destroy(info);
    return p;
  }
  /// Everything the consumer was given was acked (or terminated), and nothing waits for it.
  bool Settled(const std::string& durable) {
    const auto p = Consumer(durable);
    return p && p->undelivered == 0 && p->unacked == 0;
  }

  /// Publishes `body` as is to `subject` in the stream (not through JetStreamPublisher).
  void PublishRaw(const std::string& subject, const std::string& body, const char* msg_id) {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = msg_id;
    REQUIRE(js_Publish(nullptr, js_, subject.c_str(), body.data(), static_cast<int>(body.size()), &options, nullptr) ==
            NATS_OK);
  }

  void DeleteConsumer(const std::string& durable) {
    REQUIRE(js_DeleteConsumer(js_, nats::kEventStream, durable.c_str(), nullptr, nullptr) == NATS_OK);
  }
  void DeleteStream() { REQUIRE(js_DeleteStream(js_, nats::kEventStream, nullptr, nullptr) == NATS_OK); }

 private:
  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
};

events::Event Cancelled(int order_id) {
  return events::MakeEvent("orders", kType, R"({"order_id":)" + std::to_string(order_id) + "}");
}

events::Subscription MakeSubscription(const std::string& consumer, Recorder& recorder,
                                      std::function<void(const events::Event&)> handle, int max_attempts = 5) {
  return events::Subscription{.consumer = consumer,
                              .type = kType,
                              .handle = std::move(handle),
                              .set_aside = recorder.SetAside(),
                              .max_attempts = max_attempts};
}

TEST_CASE("a new durable gets what was published before it, each event once, acked") {
  testing::TempDir dir;
  testing::NatsServer server(dir.path());
  server.Start();
  nats::Connection connection(server.url(), "event-subscriber-test");
  nats::JetStreamPublisher publisher(connection);
  Probe probe(server.url());
  const std::vector<events::Event> before = {Cancelled(1), Cancelled(2), Cancelled(3)};
  for (const auto& e : before) REQUIRE(PublishAccepted(publisher, e));
  const auto other = events::MakeEvent("orders", kOtherType, R"({"order_id":9})");
  REQUIRE(PublishAccepted(publisher, other));

  Recorder first;
  {
    nats::JetStreamSubscriber subscriber(connection);
    subscriber.Subscribe(MakeSubscription("stock-release", first, first.Handler()));
    REQUIRE(first.WaitFor([](const Recorder& r) { return r.applied().size() >= 3; }));
    // Acked: the server holds nothing unacked or undelivered for the durable.
    CHECK(PollUntil([&] { return probe.Settled("stock-release"); }));
    const auto stats = StatsWhen(subscriber, [](const auto& s) { return s.consumed == 3; });
    CHECK(stats.consumed == 3);
    CHECK(stats.redelivered == 0);
    CHECK(stats.failed == 0);
    CHECK(stats.set_aside == 0);
  }
  // In stream order, once each, and only the subscribed type.
  CHECK(first.deliveries() == std::vector<std::string>{before[0].id, before[1].id, before[2].id});

  // The same durable name again: only what is new comes (the marker is later in the stream than the
  // old events, which would come first if they had not been acked).
  Recorder second;
  nats::JetStreamSubscriber again(connection);
  again.Subscribe(MakeSubscription("stock-release", second, second.Handler()));
  const auto marker = Cancelled(4);
  REQUIRE(PublishAccepted(publisher, marker));
  REQUIRE(second.WaitFor([&](const Recorder& r) { return r.Applied(marker.id); }));
  CHECK(second.Snapshot() == std::vector<std::string>{marker.id});
}

TEST_CASE("an event whose handler threw is delivered again, and counted as redelivered") {
  testing::TempDir dir;
  testing::NatsServer server(dir.path());
  server.Start();
  nats::Connection connection(server.url(), "event-subscriber-test");
  nats::JetStreamPublisher publisher(connection);
  Probe probe(server.url());
  const auto flaky = Cancelled(1);
  const auto fine = Cancelled(2);

  Recorder recorder;
  nats::JetStreamSubscriber subscriber(connection);
  subscriber.Subscribe(MakeSubscription(
      "stock-release", recorder,
      recorder.Handler([&](const events::Event& e, int delivery) { return e.id == flaky.id && delivery == 1; })));
  REQUIRE(PublishAccepted(publisher, flaky));
  REQUIRE(PublishAccepted(publisher, fine));

  REQUIRE(recorder.WaitFor([&](const Recorder& r) { return r.Applied(flaky.id) && r.Applied(fine.id); }));
  CHECK(PollUntil([&] { return probe.Settled("stock-release"); }));
  // The handler saw the event twice: consumers must be idempotent by event id (the inbox).
  const auto deliveries = recorder.Snapshot();
  CHECK(std::count(deliveries.begin(), deliveries.end(), flaky.id) == 2);
  CHECK(std::count(deliveries.begin(), deliveries.end(), fine.id) == 1);
  const auto stats = StatsWhen(subscriber, [](const auto& s) { return s.consumed == 2; });
  CHECK(stats.consumed == 2);
  CHECK(stats.failed == 1);
  CHECK(stats.redelivered == 1);
  CHECK(stats.set_aside == 0);
  CHECK(recorder.aside().empty());
}

TEST_CASE("a poison event is set aside after max_attempts, an unreadable one at once, and later events flow") {
  testing::TempDir dir;
  testing::NatsServer server(dir.path());
  server.Start();
  nats::Connection connection(server.url(), "event-subscriber-test");
  nats::JetStreamPublisher publisher(connection);
  Probe probe(server.url());
  const auto poison = Cancelled(1);
  const auto later = Cancelled(2);
  // All in the stream before the subscriber starts, poison first.
  REQUIRE(PublishAccepted(publisher, poison));
  REQUIRE(PublishAccepted(publisher, later));
  probe.PublishRaw(kType, "not an event", "raw-1");
  probe.PublishRaw(kType, R"({"specversion":"0.3","id":"x"})", nullptr);

  Recorder recorder;
  nats::JetStreamSubscriber subscriber(connection);
  subscriber.Subscribe(MakeSubscription(
      "stock-release", recorder, recorder.Handler([&](const events::Event& e, int) { return e.id == poison.id; }),
      /*max_attempts=*/3));

  REQUIRE(recorder.WaitFor([&](const Recorder& r) { return r.aside().size() == 3 && r.Applied(later.id); }));
  CHECK(PollUntil([&] { return probe.Settled("stock-release"); }));
  // Settled (terminated, not waiting for a redelivery): a marker published now comes after anything
  // that could still be delivered.
  const auto marker = Cancelled(3);
  REQUIRE(PublishAccepted(publisher, marker));
  REQUIRE(recorder.WaitFor([&](const Recorder& r) { return r.Applied(marker.id); }));

  recorder.Read([&](const Recorder& r) {
    // The later event did not wait for the poison one to be given up on.
    const auto& d = r.deliveries();
    const auto later_at = std::find(d.begin(), d.end(), later.id) - d.begin();
    const auto last_poison_at = std::find(d.rbegin(), d.rend(), poison.id).base() - d.begin() - 1;
    CHECK(later_at < last_poison_at);
    CHECK(r.Deliveries(poison.id) == 3);
    CHECK(r.Deliveries(later.id) == 1);
    CHECK(r.aside().size() == 3);  // each once

    const auto p = r.AsideOf(poison.id);
    REQUIRE(p);
    CHECK(p->attempts == 3);
    CHECK(p->error == "cannot apply " + poison.id + " now");
    CHECK(p->event.data == poison.data);

    const auto raw = r.AsideOf("raw-1");
    REQUIRE(raw);
    CHECK(raw->attempts == 1);
    CHECK(raw->event.type == kType);
    CHECK(raw->event.data == "not an event");
    CHECK(!raw->event.time.empty());

    // Without a Nats-Msg-Id: named by its stream sequence (the 4th message of the stream).
    const auto anonymous = r.AsideOf("stream-seq-4");
    REQUIRE(anonymous);
    CHECK(anonymous->attempts == 1);
    CHECK(anonymous->event.data == R"({"specversion":"0.3","id":"x"})");
  });
  const auto stats = StatsWhen(subscriber, [](const auto& s) { return s.consumed == 2 && s.set_aside == 3; });
  CHECK(stats.set_aside == 3);
  CHECK(stats.failed == 3);
  CHECK(stats.redelivered == 2);
  CHECK(stats.consumed == 2);
}

TEST_CASE("when set_aside throws, the event is retried and set aside later") {
  testing::TempDir dir;
  testing::NatsServer server(dir.path());
  server.Start();
  nats::Connection connection(server.url(), "event-subscriber-test");
  nats::JetStreamPublisher publisher(connection);
  Probe probe(server.url());
  const auto poison = Cancelled(1);
  REQUIRE(PublishAccepted(publisher, poison));

  Recorder recorder;
  nats::JetStreamSubscriber subscriber(connection);
  auto subscription = MakeSubscription(
      "stock-release", recorder, recorder.Handler([](const events::Event&, int) { return true; }), /*max_attempts=*/2);
  subscription.set_aside = recorder.SetAside(/*failures=*/1);
  subscriber.Subscribe(std::move(subscription));

  REQUIRE(recorder.WaitFor([](const Recorder& r) { return !r.aside().empty(); }));
  CHECK(PollUntil([&] { return probe.Settled("stock-release"); }));
  recorder.Read([&](const Recorder& r) {
    CHECK(r.Deliveries(poison.id) == 3);  // failed twice, set aside failed; once more, set aside
    REQUIRE(r.aside().size() == 1);
    CHECK(r.aside()[0].attempts == 3);
  });
  CHECK(StatsWhen(subscriber, [](const auto& s) { return s.set_aside == 1; }).set_aside == 1);
}

TEST_CASE("nothing is lost when NATS is down at start, restarts, or the consumer is away") {
  testing::TempDir dir;
  testing::NatsServer server(dir.path());  // not started yet
  nats::Connection connection(server.url(), "event-subscriber-test");
  nats::JetStreamPublisher publisher(connection);
  Recorder recorder;
  const auto e1 = Cancelled(1), e2 = Cancelled(2), e3 = Cancelled(3), e4 = Cancelled(4), e5 = Cancelled(5);
  std::optional<nats::JetStreamSubscriber> subscriber(std::in_place, connection);
  subscriber->Subscribe(MakeSubscription("stock-release", recorder, recorder.Handler()));
  // Down at start: the subscriber makes the stream and its consumer once NATS is there.
  server.Start();
  REQUIRE(PublishAccepted(publisher, e1));
  REQUIRE(recorder.WaitFor([&](const Recorder& r) { return r.Applied(e1.id); }));
  // The ack reached the server before it stops (else e1 would rightly come again).
  CHECK(PollUntil([&] { return Probe(server.url()).Settled("stock-release"); }));

  // Restarted with the same store and port, nothing published meanwhile; then events flow again.
  server.Stop();
  server.Start();
  REQUIRE(PublishAccepted(publisher, e2));
  REQUIRE(recorder.WaitFor([&](const Recorder& r) { return r.Applied(e2.id); }));
  CHECK(PollUntil([&] { return Probe(server.url()).Settled("stock-release"); }));

  // Stopped while NATS is down: promptly, and the durable stays.
  server.Stop();
  const auto stop_started = std::chrono::steady_clock::now();
  subscriber.reset();
  CHECK(std::chrono::steady_clock::now() - stop_started < 2s);
  server.Start();

  // Published while no subscriber exists, then one comes back under the same durable name.
  REQUIRE(PublishAccepted(publisher, e3));
  REQUIRE(PublishAccepted(publisher, e4));
  subscriber.emplace(connection);
  subscriber->Subscribe(MakeSubscription("stock-release", recorder, recorder.Handler()));
  REQUIRE(recorder.WaitFor([&](const Recorder& r) { return r.Applied(e3.id) && r.Applied(e4.id); }));
  REQUIRE(PublishAccepted(publisher, e5));
  REQUIRE(recorder.WaitFor([&](const Recorder& r) { return r.Applied(e5.id); }));
  CHECK(recorder.Snapshot() == std::vector<std::string>{e1.id, e2.id, e3.id, e4.id, e5.id});
}

TEST_CASE("a deleted consumer or stream is created again, and the stream is read again from its start") {
  testing::TempDir dir;
  testing::NatsServer server(dir.path());
  server.Start();
  nats::Connection connection(server.url(), "event-subscriber-test");
  nats::JetStreamPublisher publisher(connection);
  Probe probe(server.url());
  Recorder recorder;
  nats::JetStreamSubscriber subscriber(connection);
  subscriber.Subscribe(MakeSubscription("stock-release", recorder, recorder.Handler()));
  const auto e1 = Cancelled(1), e2 = Cancelled(2), e3 = Cancelled(3);
  REQUIRE(PublishAccepted(publisher, e1));
  REQUIRE(recorder.WaitFor([&](const Recorder& r) { return r.Applied(e1.id); }));

  // A new consumer under the same name starts at the beginning: e1 comes again (the inbox absorbs it).
  probe.DeleteConsumer("stock-release");
  REQUIRE(PublishAccepted(publisher, e2));
  REQUIRE(recorder.WaitFor([&](const Recorder& r) { return r.Applied(e2.id) && r.Deliveries(e1.id) == 2; }));

  // The stream itself lost (a server that lost its store): made again, and new events flow.
  probe.DeleteStream();
  REQUIRE(PollUntil([&] { return probe.Consumer("stock-release").has_value(); }));
  REQUIRE(PublishAccepted(publisher, e3));
  REQUIRE(recorder.WaitFor([&](const Recorder& r) { return r.Applied(e3.id); }));
}

TEST_CASE("a subscription without a handler or with a bad durable name is refused") {
  testing::TempDir dir;
  testing::NatsServer server(dir.path());  // never started: Subscribe contacts nothing before its thread
  nats::Connection connection(server.url(), "event-subscriber-test");
  nats::JetStreamSubscriber subscriber(connection);
  Recorder recorder;
  CHECK_THROWS_AS(subscriber.Subscribe(MakeSubscription("stock.release", recorder, recorder.Handler())),
                  std::invalid_argument);
  CHECK_THROWS_AS(subscriber.Subscribe(MakeSubscription("stock-release", recorder, {})), std::invalid_argument);
  CHECK_THROWS_AS(subscriber.Subscribe(MakeSubscription("stock-release", recorder, recorder.Handler(), 0)),
                  std::invalid_argument);
}

}  // namespace
