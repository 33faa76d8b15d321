#include "shop/nats/registry.h"

#include <boost/json.hpp>
#include <charconv>

#include "shop/core/random.h"
#include "shop/platform/log.h"

namespace shop::nats {
namespace {

std::int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Key(const SelfInfo& self) { return self.service + "." + self.instance; }

std::string Encode(const SelfInfo& self) {
  boost::json::object entry{{"service", self.service},
                            {"instance", self.instance},
                            {"version", self.version},
                            {"url", self.url},
                            {"started_at", self.started_at}};
  // An extra member, which readers of PLATFORM.md's shape ignore: callers on this host use it instead of url.
  if (!self.local_socket.empty()) entry["socket"] = self.local_socket;
  return boost::json::serialize(entry);
}

}  // namespace

std::string NewInstanceId(std::string_view service) { return std::string(service) + "-" + RandomHex(6); }

int MajorVersion(std::string_view version) {
  int major = -1;
  const auto dot = version.find('.');
  if (dot == std::string_view::npos || dot == 0) return -1;
  auto [end, ec] = std::from_chars(version.data(), version.data() + dot, major);
  if (ec != std::errc() || end != version.data() + dot || major < 0) return -1;
  return major;
}

struct Registry::Record {
  admin::Instance instance;
  std::string service;
  std::string local_socket;  // the entry's optional `socket`: its Unix-domain socket on its host
  std::int64_t last_seen_steady_ms = 0;
  std::shared_ptr<http::Endpoint> endpoint;  // for dependencies' compatible instances
};

/// One dependency's endpoint set, swapped whole on every membership change.
class Registry::View final : public http::EndpointSource {
 public:
  View() : set_(std::make_shared<const http::EndpointSet>()) {}
  std::shared_ptr<const http::EndpointSet> Current() const override { return set_.load(std::memory_order_acquire); }
  void Publish(std::shared_ptr<const http::EndpointSet> set) { set_.store(std::move(set), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const http::EndpointSet>> set_;
};

Registry::Registry(Connection& connection, std::vector<Dependency> dependencies, int own_major, Options options)
    : connection_(connection),
      bucket_(connection, {.name = "shop_registry", .history = 1, .max_age = std::chrono::seconds(60)}),
      own_major_(own_major),
      options_(options) {
  for (const Dependency& d : dependencies) {
    majors_[d.service] = d.major;
    views_[d.service] = std::make_shared<View>();
  }
  watch_ = std::make_unique<Watch>(bucket_, ">",
                                   Watch::Handlers{.reset = [this](std::vector<KvEntry> all) { Reset(std::move(all)); },
                                                   .changed = [this](const KvEntry& e) { Changed(e); },
                                                   .in_sync =
                                                       [this](bool) {
                                                         std::lock_guard lock(mu_);
                                                         PublishLocked();
                                                       }});
  // Two threads: the sweep (no I/O, so a hung NATS cannot delay the switch to "serve on the last
  // view") and the heartbeat (a KV write, which may block while NATS hangs).
  auto every = [this](std::chrono::milliseconds period, void (Registry::*step)()) {
    return std::thread([this, period, step] {
      std::unique_lock lock(tick_mu_);
      while (!tick_cv_.wait_for(lock, period, [this] { return stopping_; })) {
        lock.unlock();
        (this->*step)();
        lock.lock();
      }
    });
  };
  sweeper_ = every(std::chrono::milliseconds(50), &Registry::Sweep);
  // Until registered, readiness is looked at every 10 ms, so an instance is routable within about
  // 10 ms of being ready (not up to a heartbeat later); then a heartbeat every options_.heartbeat.
  heartbeat_ = std::thread([this] {
    std::unique_lock lock(tick_mu_);
    auto pace = [this] {
      return announced_.load(std::memory_order_relaxed) ? options_.heartbeat : std::chrono::milliseconds(10);
    };
    while (!tick_cv_.wait_for(lock, pace(), [this] { return stopping_; })) {
      lock.unlock();
      Heartbeat();
      lock.lock();
    }
  });
}

Registry::~Registry() {
  {
    std::lock_guard lock(tick_mu_);
    stopping_ = true;
  }
  tick_cv_.notify_all();
  sweeper_.join();
  heartbeat_.join();
  std::optional<std::string> key;
  {
    std::lock_guard lock(mu_);
    if (self_ && announced_) key = Key(self_->first);
  }
  if (key && bucket_.Delete(*key)) log::Write(log::Level::kInfo, "deregistered", {{"key", *key}});
  watch_.reset();
}

void Registry::Register(SelfInfo self, std::function<bool()> ready) {
  std::lock_guard lock(mu_);
  self_.emplace(std::move(self), std::move(ready));
}

const http::EndpointSource& Registry::Endpoints(const std::string& service) const { return *views_.at(service); }

std::optional<Registry::Record> Registry::Parse(const KvEntry& entry, std::int64_t age_ms) const {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(entry.value, ec);
  // A tolerant reader: fields it does not know are ignored, so a newer version may add some.
  const boost::json::object* o = ec ? nullptr : parsed.if_object();
  auto text = [&](std::string_view name) -> std::string {
    const boost::json::value* v = o ? o->if_contains(name) : nullptr;
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  Record r;
  r.service = text("service");
  r.instance.id = text("instance");
  r.instance.version = text("version");
  r.instance.url = text("url");
  r.instance.started_at = text("started_at");
  r.local_socket = text("socket");
  if (r.service.empty() || r.instance.id.empty() || r.instance.url.empty() || MajorVersion(r.instance.version) < 0) {
    log::Write(log::Level::kWarn, "registry entry skipped", {{"key", entry.key}, {"reason", "not an instance"}});
    return std::nullopt;
  }
  const auto major = majors_.find(r.service);
  r.instance.compatible = MajorVersion(r.instance.version) == (major != majors_.end() ? major->second : own_major_);
  r.instance.last_seen_ms = SystemNowMs() - age_ms;
  r.last_seen_steady_ms = http::SteadyNowMs() - age_ms;
  return r;
}

void Registry::Upsert(const std::string& key, Record record) {
  auto it = records_.find(key);
  const bool calls_it = record.instance.compatible && views_.contains(record.service);
  if (it != records_.end() && it->second.instance.url == record.instance.url &&
      it->second.local_socket == record.local_socket &&
      it->second.instance.compatible == record.instance.compatible && it->second.service == record.service) {
    // A heartbeat: only the time moves; the endpoint set stays as it is.
    it->second.instance.last_seen_ms = record.instance.last_seen_ms;
    it->second.last_seen_steady_ms = record.last_seen_steady_ms;
    if (it->second.endpoint) it->second.endpoint->last_seen_ms.store(record.last_seen_steady_ms);
    return;
  }
  if (it != records_.end()) Remove(key);
  if (calls_it) {
    try {
      record.endpoint = std::make_shared<http::Endpoint>(record.instance.id, record.instance.url, record.service,
                                                         options_.breaker_open_for, record.local_socket);
      record.endpoint->last_seen_ms.store(record.last_seen_steady_ms);
    } catch (const std::invalid_argument& e) {
      log::Write(log::Level::kWarn, "registry entry skipped", {{"key", key}, {"reason", e.what()}});
      return;
    }
  }
  log::Write(log::Level::kInfo, "instance joined",
             {{"peer_service", record.service}, {"instance", record.instance.id}, {"url", record.instance.url},
              {"version", record.instance.version}, {"compatible", record.instance.compatible ? "true" : "false"}});
  records_.insert_or_assign(key, std::move(record));
}

void Registry::Remove(const std::string& key) {
  auto it = records_.find(key);
  if (it == records_.end()) return;
  if (it->second.endpoint) {
    it->second.endpoint->removed.store(true);
    http::NoteEndpointsRemoved();
  }
  log::Write(log::Level::kInfo, "instance left", {{"peer_service", it->second.service}, {"instance", it->second.instance.id}});
  records_.erase(it);
}

bool Registry::FlowingLocked() const {
  // Heartbeats (this process's own among them) arrive several times a second while the watch works.
  // Connected but silent for half the liveness window (two heartbeats) means a hung server or watch,
  // not dead instances: judge nobody on silence then. Half, so that the switch is published before
  // any instance's last heartbeat ages past the window in the callers' Pick.
  return watch_ && watch_->synced() && http::SteadyNowMs() - last_event_ms_ <= options_.liveness.count() / 2;
}

void Registry::PublishLocked() {
  published_flowing_ = FlowingLocked();
  for (auto& [service, view] : views_) {
    auto set = std::make_shared<http::EndpointSet>();
    // Cut from NATS, heartbeats cannot be seen: serve on with the last view, unchecked.
    set->liveness = published_flowing_ ? options_.liveness : std::chrono::milliseconds(0);
    for (const auto& [key, record] : records_) {
      if (record.service == service && record.endpoint) set->endpoints.push_back(record.endpoint);
    }
    view->Publish(std::move(set));
  }
}

void Registry::Reset(std::vector<KvEntry> entries) {
  const auto now = std::chrono::system_clock::now();
  const std::int64_t steady_now = http::SteadyNowMs();
  std::lock_guard lock(mu_);
  last_event_ms_ = http::SteadyNowMs();
  std::map<std::string, Record> previous = std::move(records_);
  records_.clear();
  for (const KvEntry& e : entries) {
    const std::int64_t age_ms = std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(now - e.written).count());
    auto record = Parse(e, age_ms);
    if (!record) continue;
    auto old = previous.find(e.key);
    const bool known = old != previous.end() && old->second.instance.url == record->instance.url &&
                       old->second.local_socket == record->local_socket;
    // Re-synced after the connection was lost: nobody could write heartbeats meanwhile, so the age
    // of an instance's last write says nothing yet. One this process knew gets one liveness window
    // from now to be heard again (else every instance would be dropped until its next heartbeat).
    if (known) record->last_seen_steady_ms = std::max(record->last_seen_steady_ms, steady_now);
    // Keep the endpoint (its breaker, pooled connections) of an instance that is still there.
    if (known && old->second.endpoint && record->instance.compatible) {
      record->endpoint = old->second.endpoint;
      record->endpoint->last_seen_ms.store(record->last_seen_steady_ms);
      records_.insert_or_assign(e.key, std::move(*record));
      previous.erase(old);
      continue;
    }
    Upsert(e.key, std::move(*record));
  }
  for (auto& [key, record] : previous) {
    if (record.endpoint) record.endpoint->removed.store(true);
  }
  if (!previous.empty()) http::NoteEndpointsRemoved();
  PublishLocked();
}

void Registry::Changed(const KvEntry& e) {
  std::lock_guard lock(mu_);
  last_event_ms_ = http::SteadyNowMs();
  if (e.deleted) {
    Remove(e.key);
  } else if (auto record = Parse(e, 0)) {
    Upsert(e.key, std::move(*record));
  } else {
    Remove(e.key);
  }
  PublishLocked();
}

void Registry::Sweep() {
  std::lock_guard lock(mu_);
  // Instances whose heartbeats stopped: dead without deregistering (kill -9, a cut network).
  const bool flowing = FlowingLocked();
  if (flowing != published_flowing_) PublishLocked();
  if (!flowing) return;
  const std::int64_t now = http::SteadyNowMs();
  std::vector<std::string> dead;
  for (const auto& [key, record] : records_) {
    if (now - record.last_seen_steady_ms > options_.liveness.count()) dead.push_back(key);
  }
  for (const std::string& key : dead) Remove(key);
  if (!dead.empty()) PublishLocked();
}

void Registry::Heartbeat() {
  std::function<bool()> ready;
  bool announced = false;
  {
    std::lock_guard lock(mu_);
    if (!self_) return;
    ready = self_->second;
    announced = announced_;
  }
  // Registered once ready; from then on the heartbeat says "alive", not "ready": an instance whose own
  // dependency is down still serves what it can (orders lists orders while products is down).
  // Readiness checks may take a moment (a database ping): not under the lock.
  if (!announced && !(ready && ready())) return;
  std::string key, value;
  {
    std::lock_guard lock(mu_);
    key = Key(self_->first);
    value = Encode(self_->first);
  }
  // May block while NATS hangs (up to the JetStream wait): on this thread only, never the sweep's.
  if (!bucket_.Put(key, value)) return;
  std::lock_guard lock(mu_);
  if (!announced_) log::Write(log::Level::kInfo, "registered", {{"key", key}});
  announced_ = true;
}

std::vector<admin::Service> Registry::Services() const {
  std::lock_guard lock(mu_);
  std::map<std::string, admin::Service> by_name;
  for (const auto& [key, record] : records_) {
    auto& service = by_name[record.service];
    service.name = record.service;
    service.instances.push_back(record.instance);
  }
  std::vector<admin::Service> out;
  for (auto& [name, service] : by_name) {
    std::ranges::sort(service.instances, {}, &admin::Instance::id);
    out.push_back(std::move(service));
  }
  return out;
}

}  // namespace shop::nats
