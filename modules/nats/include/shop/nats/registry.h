#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <condition_variable>
#include <string>
#include <thread>
#include <vector>

#include "shop/admin/directory.h"
#include "shop/http_client/endpoints.h"
#include "shop/nats/nats.h"

namespace shop::nats {

/// A service this process calls, and the major version of its API it speaks (semver.org: another
/// major version is incompatible, so such instances are listed but never called).
struct Dependency {
  std::string service;
  int major = 0;
};

/// What this process announces about itself (PLATFORM.md "Discovery and versions").
struct SelfInfo {
  std::string service;     ///< users, products, orders, gateway
  std::string instance;    ///< unique id, e.g. from NewInstanceId()
  std::string version;     ///< MAJOR.MINOR.PATCH of this build
  std::string url;         ///< where the others reach it: `http://host:port`
  std::string started_at;  ///< RFC 3339
  /// Its Unix-domain socket, for callers on the same host (entry member `socket`); empty: none.
  std::string local_socket;
};

/// `<service>-<12 hex digits>`: unique enough for instances that come and go.
std::string NewInstanceId(std::string_view service);
/// The MAJOR of `MAJOR.MINOR.PATCH`, or -1 when `version` is not a semantic version.
int MajorVersion(std::string_view version);

/// The service registry on KV bucket `shop_registry` (key `<service>.<instance>`, value
/// `{"service","instance","version","url","started_at"}`), as an in-memory view kept current by a
/// watch: callers resolve names with no lookup on the request path.
///
/// Liveness: every instance rewrites its entry every `heartbeat`; an entry not rewritten within
/// `liveness` is dead (bucket MaxAge expiry gives no watch event in NATS 2.9, so the age of the last
/// write decides, as Consul's TTL checks and Eureka's leases do, only much faster). While this
/// process is cut from NATS, or its watch has been silent longer than `liveness` (a hung server:
/// even its own heartbeats do not come back), it keeps its last view and checks no liveness, then
/// re-reads the full state when it is back.
class Registry final : public admin::Directory {
 public:
  struct Options {
    std::chrono::milliseconds heartbeat{250};
    std::chrono::milliseconds liveness{1000};
    std::chrono::milliseconds breaker_open_for{1000};  ///< of each instance's breaker
  };

  /// `dependencies`: the services this process calls; `own_major`: this build's major version, the
  /// one instances of services it does not call are judged by.
  Registry(Connection& connection, std::vector<Dependency> dependencies, int own_major, Options options);
  /// Deregisters this instance (deletes its entry) and stops.
  ~Registry() override;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Announces `self` every heartbeat from the first moment `ready()` holds (an instance is not
  /// called before it is ready) until destruction; after that the heartbeat means "alive": an
  /// instance whose own dependency went down still serves what it can.
  void Register(SelfInfo self, std::function<bool()> ready);

  /// The live, compatible instances of a declared dependency, for http::ClientOptions::endpoints.
  /// Throws std::out_of_range for a service not declared as a dependency.
  const http::EndpointSource& Endpoints(const std::string& service) const;

  /// True once the registry was read fully, while connected.
  bool synced() const { return watch_ && watch_->synced(); }
  bool WaitSynced(std::chrono::milliseconds timeout) { return watch_->WaitSynced(timeout); }

  std::vector<admin::Service> Services() const override;

 private:
  struct Record;
  class View;

  void Reset(std::vector<KvEntry> entries);
  void Changed(const KvEntry& entry);
  std::optional<Record> Parse(const KvEntry& entry, std::int64_t age_ms) const;
  void Upsert(const std::string& key, Record record);  // mu_ held
  void Remove(const std::string& key);                 // mu_ held
  void PublishLocked();                                // mu_ held
  bool FlowingLocked() const;                          // mu_ held
  void Sweep();      // drops dead instances, switches liveness checks on and off; no I/O
  void Heartbeat();  // writes this instance's entry

  Connection& connection_;
  KeyValue bucket_;
  std::map<std::string, int> majors_;  // dependency -> major it speaks
  int own_major_;
  Options options_;

  mutable std::mutex mu_;
  std::map<std::string, Record> records_;  // by key
  std::map<std::string, std::shared_ptr<View>> views_;  // by dependency name; fixed after construction
  std::optional<std::pair<SelfInfo, std::function<bool()>>> self_;  // guarded by mu_
  std::atomic<bool> announced_{false};  // written under mu_; read without it for the heartbeat's pace
  std::int64_t last_event_ms_ = 0;     // steady ms of the last watch event; guarded by mu_
  bool published_flowing_ = false;     // whether the published sets check liveness; guarded by mu_

  std::unique_ptr<Watch> watch_;
  std::mutex tick_mu_;
  std::condition_variable tick_cv_;
  bool stopping_ = false;
  std::thread sweeper_;
  std::thread heartbeat_;
};

}  // namespace shop::nats
