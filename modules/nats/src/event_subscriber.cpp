#include "shop/nats/event_subscriber.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <stdexcept>
#include <thread>

#include <pthread.h>

#include "connection_impl.h"
#include "event_stream.h"

#include "shop/core/time.h"
#include "shop/nats/event_publisher.h"
#include "shop/platform/log.h"

namespace shop::nats {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kFetchBatch = 64;
// A fetch waits this long for messages; the thread looks at the stop flag between fetches, so it
// also bounds how long the destructor waits (plus the handler in progress).
constexpr std::int64_t kFetchWaitMs = 500;
// How long the server waits for an ack before it delivers the message again. It is the delay before
// a message in the hands of a process that died (kill -9, a cut network) is retried, and a lost ack
// costs one extra delivery after it: both absorbed by the consumer's inbox. Five seconds is far
// above a batch of local SQLite transactions (a handler takes milliseconds), and a batch that runs
// long still tells the server it is in progress (see HandleBatch), so a slow handler is not
// redelivered while it runs.
constexpr std::chrono::seconds kAckWait{5};
// The pause before binding again after NATS refused to bind or a fetch failed (409 "Server Shutdown"
// when NATS restarts, a closed subscription).
constexpr std::chrono::milliseconds kRetryPause{1000};
// A fetch does not fail when the consumer is deleted (or the server lost its store): its pull requests
// simply go unanswered (libnats 3.4.1, nats-server 2.9.10). So after this long without a message, the
// thread asks whether the consumer still exists, and makes it again when it does not.
constexpr std::chrono::seconds kCheckConsumerEvery{5};
// A failed event comes again after 100 ms x its delivery count, at most 2 s: soon enough for a
// passing failure (a locked database), without spinning on one that lasts.
constexpr std::int64_t kBackoffStepMs = 100;
constexpr std::int64_t kBackoffMaxMs = 2000;

bool ValidConsumerName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::int64_t BackoffMs(std::uint64_t delivered) {
  return static_cast<std::int64_t>(std::min<std::uint64_t>(delivered, kBackoffMaxMs / kBackoffStepMs)) * kBackoffStepMs;
}

/// What JetStream says of one delivery (https://docs.nats.io/nats-concepts/jetstream/consumers):
/// how many times this message was delivered to the consumer, this one included, and where it is.
struct Delivery {
  std::uint64_t delivered = 1;
  std::uint64_t stream_seq = 0;
  std::int64_t timestamp_ns = 0;
};

Delivery ReadDelivery(natsMsg* msg) {
  Delivery d;
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
    d.delivered = std::max<std::uint64_t>(meta->NumDelivered, 1);
    d.stream_seq = meta->Sequence.Stream;
    d.timestamp_ns = meta->Timestamp;
    jsMsgMetaData_Destroy(meta);
  }
  return d;
}

/// What is known of a message that is not a CloudEvents event, for set_aside.
events::Event UnreadableEvent(natsMsg* msg, const Delivery& d) {
  events::Event e;
  const char* msg_id = nullptr;
  if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &msg_id) == NATS_OK && msg_id && *msg_id) {
    e.id = msg_id;
  } else {
    e.id = "stream-seq-" + std::to_string(d.stream_seq);
  }
  e.type = natsMsg_GetSubject(msg);
  if (d.timestamp_ns > 0) {
    e.time = FormatRfc3339Millis(std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(d.timestamp_ns))));
  }
  e.data.assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  return e;
}

int AttemptsOf(const Delivery& d) { return static_cast<int>(std::min<std::uint64_t>(d.delivered, INT_MAX)); }

}  // namespace

struct JetStreamSubscriber::Worker {
  JetStreamSubscriber& owner;
  events::Subscription subscription;
  std::thread thread;
  std::atomic<std::int64_t> last_error_log_ms{0};
  std::atomic<std::int64_t> last_ack_log_ms{0};

  void Run();
  natsSubscription* Bind();
  void HandleBatch(natsMsgList& list, Clock::time_point fetched);
  void Handle(natsMsg* msg);
  void GiveUp(natsMsg* msg, const events::Event& event, std::string_view error, const Delivery& d);
  void Settle(natsStatus s, std::string_view what);
  bool ConsumerLost();
};

JetStreamSubscriber::JetStreamSubscriber(Connection& connection) : connection_(connection) {}

JetStreamSubscriber::~JetStreamSubscriber() {
  std::vector<std::unique_ptr<Worker>> workers;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    workers.swap(workers_);
  }
  stop_cv_.notify_all();
  for (auto& worker : workers) worker->thread.join();
}

void JetStreamSubscriber::Subscribe(events::Subscription subscription) {
  if (!ValidConsumerName(subscription.consumer)) {
    throw std::invalid_argument("event subscription: consumer name must be [A-Za-z0-9_-]+, not '" +
                                subscription.consumer + "'");
  }
  if (subscription.type.empty() || !subscription.handle || subscription.max_attempts < 1) {
    throw std::invalid_argument("event subscription " + subscription.consumer +
                                ": needs a type, a handler and max_attempts >= 1");
  }
  std::lock_guard lock(mu_);
  if (stopping_) return;
  std::unique_ptr<Worker> worker(new Worker{.owner = *this, .subscription = std::move(subscription)});
  Worker& w = *worker;
  workers_.push_back(std::move(worker));
  w.thread = std::thread([&w] { w.Run(); });
  // Named so that profiles and per-thread CPU accounting (bench/) can tell the consumers apart.
  pthread_setname_np(w.thread.native_handle(), "event-consumer");
}

events::ConsumerStats JetStreamSubscriber::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

bool JetStreamSubscriber::Stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool JetStreamSubscriber::Pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !stop_cv_.wait_for(lock, d, [this] { return stopping_; });
}

void JetStreamSubscriber::Add(std::uint64_t events::ConsumerStats::*counter) {
  std::lock_guard lock(stats_mu_);
  ++(stats_.*counter);
}

/// The stream and the durable consumer, created when absent, and a pull subscription bound to the
/// consumer; null when NATS refused (logged, throttled).
natsSubscription* JetStreamSubscriber::Worker::Bind() {
  const events::Subscription& sub = subscription;
  jsCtx* js = owner.connection_.impl().js;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = EnsureEventStream(js, code);
  if (s != NATS_OK) {
    LogThrottled(last_error_log_ms, "event stream unavailable",
                 {{"consumer", sub.consumer}, {"error", StatusText(s)}, {"jetstream_code", static_cast<int>(code)}});
    return nullptr;
  }
  // Created by us, not by js_PullSubscribe: a consumer the library created is deleted by
  // natsSubscription_Unsubscribe/Drain (nats.h, js_Subscribe), and this one must outlive the process.
  jsConsumerConfig cfg;
  jsConsumerConfig_Init(&cfg);
  cfg.Durable = sub.consumer.c_str();
  cfg.FilterSubject = sub.type.c_str();
  cfg.DeliverPolicy = js_DeliverAll;  // a new consumer gets everything the stream holds
  cfg.AckPolicy = js_AckExplicit;
  cfg.AckWait = std::chrono::duration_cast<std::chrono::nanoseconds>(kAckWait).count();
  // Unlimited on the server; this side counts (max_attempts). With MaxDeliver = max_attempts the
  // server would drop the event by itself after the last failed delivery, and it would never be
  // set aside if the process died first or set_aside failed (which retries it later).
  cfg.MaxDeliver = -1;
  jsConsumerInfo* info = nullptr;
  // For an existing durable, the same config is a no-op and a changed AckWait an update; its
  // position is kept.
  s = js_AddConsumer(&info, js, kEventStream, &cfg, nullptr, &code);
  const natsStatus added = s;
  const std::string add_error = s == NATS_OK ? "" : StatusText(s);  // before another call replaces its text
  if (s != NATS_OK) {
    // It exists with a config the server would not change to ours (or was created meanwhile).
    jsErrCode info_code = static_cast<jsErrCode>(0);
    s = js_GetConsumerInfo(&info, js, kEventStream, sub.consumer.c_str(), nullptr, &info_code);
    if (s != NATS_OK) {
      LogThrottled(last_error_log_ms, "event consumer unavailable",
                   {{"consumer", sub.consumer}, {"error", add_error}, {"jetstream_code", static_cast<int>(code)}});
      return nullptr;
    }
  }
  const char* filter = info->Config ? info->Config->FilterSubject : nullptr;
  const std::string existing_filter = filter ? filter : "";
  jsConsumerInfo_Destroy(info);
  if (existing_filter != sub.type) {
    // Another type's consumer under this name: its events must not reach this handler.
    LogThrottled(last_error_log_ms, "event consumer name taken by another type; not consuming",
                 {{"consumer", sub.consumer}, {"type", sub.type}, {"its_type", existing_filter}});
    return nullptr;
  }
  if (added != NATS_OK) {
    LogThrottled(last_error_log_ms, "event consumer exists with another config; using it",
                 {{"consumer", sub.consumer}, {"error", add_error}, {"jetstream_code", static_cast<int>(code)}});
  }

  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = kEventStream;
  options.Consumer = sub.consumer.c_str();  // bind only: never create, so never delete
  natsSubscription* ns = nullptr;
  s = js_PullSubscribe(&ns, js, sub.type.c_str(), sub.consumer.c_str(), nullptr, &options, &code);
  if (s != NATS_OK) {
    LogThrottled(last_error_log_ms, "event subscription failed",
                 {{"consumer", sub.consumer}, {"error", StatusText(s)}, {"jetstream_code", static_cast<int>(code)}});
    return nullptr;
  }
  log::Write(log::Level::kInfo, "event consumer bound", {{"consumer", sub.consumer}, {"type", sub.type}});
  return ns;
}

void JetStreamSubscriber::Worker::Run() {
  natsSubscription* ns = nullptr;
  Clock::time_point last_sign = Clock::now();  // of the consumer's existence: a bind, a message, a check
  while (!owner.Stopping()) {
    if (!ns) {
      if (!owner.connection_.connected()) {
        if (!owner.Pause(std::chrono::milliseconds(100))) break;
        continue;
      }
      ns = Bind();
      if (!ns) {
        if (!owner.Pause(kRetryPause)) break;
        continue;
      }
      last_sign = Clock::now();
    }
    natsMsgList list{};
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = natsSubscription_Fetch(&list, ns, kFetchBatch, kFetchWaitMs, &code);
    const Clock::time_point fetched = Clock::now();
    // No messages within the wait. While NATS is down the pull requests are buffered by the client and
    // also end here; the subscription carries on after the reconnect.
    if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) {
      if (fetched - last_sign >= kCheckConsumerEvery && owner.connection_.connected()) {
        last_sign = fetched;
        if (ConsumerLost()) {
          natsSubscription_Destroy(ns);
          ns = nullptr;
        }
      }
      continue;
    }
    if (s != NATS_OK) {
      // The server is shutting down (409), the subscription was closed...: bind again (creating what
      // is missing) after a pause.
      LogThrottled(
          last_error_log_ms, "event fetch failed; binding again",
          {{"consumer", subscription.consumer}, {"error", StatusText(s)}, {"jetstream_code", static_cast<int>(code)}});
      natsSubscription_Destroy(ns);
      ns = nullptr;
      if (!owner.Pause(kRetryPause)) break;
      continue;
    }
    last_sign = fetched;
    HandleBatch(list, fetched);
    natsMsgList_Destroy(&list);
  }
  // Destroy, not Unsubscribe: since libnats 3.4 it leaves the JetStream consumer alone (nats.h,
  // js_Subscribe), and this one was bound, not created, by the subscription anyway.
  if (ns) natsSubscription_Destroy(ns);
}

/// True when the server says the consumer (or its stream) does not exist; false when it does or
/// cannot tell now.
bool JetStreamSubscriber::Worker::ConsumerLost() {
  jsConsumerInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  // By name: natsSubscription_GetConsumerInfo answers "invalid subscription" for a pull
  // subscription in libnats 3.4.1.
  const natsStatus s = js_GetConsumerInfo(&info, owner.connection_.impl().js, kEventStream,
                                          subscription.consumer.c_str(), nullptr, &code);
  if (s == NATS_OK) jsConsumerInfo_Destroy(info);
  // A missing consumer is NATS_NOT_FOUND; a missing stream is NATS_ERR with its JetStream code.
  if (s != NATS_NOT_FOUND && code != JSConsumerNotFoundErr && code != JSStreamNotFoundErr) return false;
  log::Write(log::Level::kWarn, "event consumer lost; creating it again",
             {{"consumer", subscription.consumer}, {"jetstream_code", static_cast<int>(code)}});
  return true;
}

void JetStreamSubscriber::Worker::HandleBatch(natsMsgList& list, Clock::time_point fetched) {
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* msg = list.Msgs[i];
    if (owner.Stopping()) {
      // Handed back at once rather than after AckWait: the next process on this durable gets them now.
      Settle(natsMsg_Nak(msg, nullptr), "nak");
      continue;
    }
    // Every message of the batch has been on the ack clock since the fetch.
    if (Clock::now() - fetched > kAckWait / 2) Settle(natsMsg_InProgress(msg, nullptr), "in progress");
    Handle(msg);
  }
}

void JetStreamSubscriber::Worker::Handle(natsMsg* msg) {
  const events::Subscription& sub = subscription;
  const Delivery d = ReadDelivery(msg);
  if (d.delivered > 1) owner.Add(&events::ConsumerStats::redelivered);
  const std::string_view body(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  const std::optional<events::Event> event = events::FromCloudEventJson(body);
  if (!event) {
    const events::Event raw = UnreadableEvent(msg, d);
    log::Write(log::Level::kError, "unreadable event set aside",
               {{"consumer", sub.consumer}, {"event_id", raw.id}, {"subject", raw.type}});
    GiveUp(msg, raw, "not a CloudEvents 1.0 JSON event", d);
    return;
  }
  std::string error;
  try {
    sub.handle(*event);
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "handler failed";
  } catch (...) {
    error = "handler threw a non-standard exception";
  }
  if (error.empty()) {
    // Not AckSync: a lost ack costs one redelivery after AckWait, which the inbox absorbs, while
    // waiting for the server's confirmation would cost a round trip per event (up to the 500 ms
    // JetStream wait when NATS hangs) and tell us nothing we could act on.
    Settle(natsMsg_Ack(msg, nullptr), "ack");
    owner.Add(&events::ConsumerStats::consumed);
    return;
  }
  owner.Add(&events::ConsumerStats::failed);
  if (d.delivered < static_cast<std::uint64_t>(sub.max_attempts)) {
    log::Write(log::Level::kWarn, "event not applied; will retry",
               {{"consumer", sub.consumer},
                {"event_id", event->id},
                {"type", event->type},
                {"attempt", AttemptsOf(d)},
                {"error", error}});
    Settle(natsMsg_NakWithDelay(msg, BackoffMs(d.delivered), nullptr), "nak");
    return;
  }
  log::Write(log::Level::kError, "event set aside",
             {{"consumer", sub.consumer},
              {"event_id", event->id},
              {"type", event->type},
              {"attempts", AttemptsOf(d)},
              {"error", error}});
  GiveUp(msg, *event, error, d);
}

/// Records the event with set_aside and terminates the message, so it is never delivered again; when
/// set_aside throws, the message comes back after the back-off and is tried again.
void JetStreamSubscriber::Worker::GiveUp(natsMsg* msg, const events::Event& event, std::string_view error,
                                         const Delivery& d) {
  const events::Subscription& sub = subscription;
  try {
    if (sub.set_aside) sub.set_aside(event, error, AttemptsOf(d));
  } catch (const std::exception& e) {
    log::Write(log::Level::kError, "event not set aside; will retry",
               {{"consumer", sub.consumer}, {"event_id", event.id}, {"error", e.what()}});
    Settle(natsMsg_NakWithDelay(msg, BackoffMs(d.delivered), nullptr), "nak");
    return;
  } catch (...) {
    log::Write(log::Level::kError, "event not set aside; will retry",
               {{"consumer", sub.consumer}, {"event_id", event.id}, {"error", "non-standard exception"}});
    Settle(natsMsg_NakWithDelay(msg, BackoffMs(d.delivered), nullptr), "nak");
    return;
  }
  Settle(natsMsg_Term(msg, nullptr), "term");
  owner.Add(&events::ConsumerStats::set_aside);
}

/// An ack, nak or term that could not be sent (the connection closed): the server delivers the
/// message again after AckWait, so it is only worth a throttled log line.
void JetStreamSubscriber::Worker::Settle(natsStatus s, std::string_view what) {
  if (s == NATS_OK) return;
  LogThrottled(last_ack_log_ms, "event acknowledgement not sent",
               {{"consumer", subscription.consumer}, {"kind", what}, {"error", StatusText(s)}});
}

}  // namespace shop::nats
