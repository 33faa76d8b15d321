#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shop/admin/admin.h"
#include "shop/auth/token.h"
#include "shop/config/config.h"
#include "shop/http/app.h"
#include "shop/http_client/client.h"
#include "shop/nats/config_store.h"
#include "shop/nats/event_publisher.h"
#include "shop/nats/event_subscriber.h"
#include "shop/nats/nats.h"
#include "shop/nats/registry.h"
#include "shop/platform/flags.h"
#include "shop/runtime/events.h"

/// What every process of the split layout shares: one NATS connection, the central configuration
/// on it (hot), the service registry, and the hot client settings.
namespace shop::runtime {

/// Declares --nats-url (SHOP_NATS_URL), --advertise-host (SHOP_ADVERTISE_HOST) and --local-socket-dir
/// (SHOP_LOCAL_SOCKET_DIR). `--nats-url off` runs the process alone: configuration from flags only
/// (changes through its own admin API stay in this process), no registry, every dependency by its
/// static URL.
void AddPlatformFlags(Flags& flags);

class SplitPlatform {
 public:
  /// Connects to NATS (in the background when it is down), starts following `shop_config` and
  /// `shop_registry`, and waits up to 2 s for their first full read. `dependencies`: the services
  /// this process calls and the major version it speaks for each. Throws on an invalid flag.
  SplitPlatform(const Flags& flags, std::string service, std::string version, std::vector<nats::Dependency> dependencies);
  ~SplitPlatform();

  config::Config& config() { return *config_; }
  config::Store& store() { return *store_; }
  /// Null without NATS.
  nats::Registry* registry() { return registry_.get(); }
  /// The process's NATS connection, for its events; null without NATS (`--nats-url off`).
  nats::Connection* nats() { return nats_.get(); }
  /// Follow `client.timeout_ms` and `client.breaker.failures`.
  const http::CallSettings& call_settings() const { return call_settings_; }

  /// How to call `service`: the static `url` when not empty (an override for one-off setups), else
  /// its live, compatible instances from the registry.
  http::ClientOptions ClientOptionsFor(const std::string& service, const std::string& url) const;

  /// Adds the admin API (PLATFORM.md), the readiness check `config` (the central configuration was
  /// read fully at least once) and the token cache's metrics (ReportTokenCache) to `app`.
  void Mount(http::App& app, const auth::Verifier& verifier);

  /// The Unix-domain socket this process also serves on, for callers on the same host (registered with
  /// its URL); empty when there is none (no registry, or `--local-socket-dir off`). Set it as
  /// http::ServerOptions::local_socket.
  const std::string& local_socket() const { return local_socket_; }

  /// Registers this instance at `http://<advertise host>:<port>` (and its local socket); heartbeats go
  /// out while `app` is ready.
  void Listening(std::uint16_t port, const http::App& app);

 private:
  std::string service_;
  std::string version_;
  std::string advertise_host_;
  std::string local_socket_;
  std::unique_ptr<config::Config> config_;
  http::CallSettings call_settings_;
  std::unique_ptr<nats::Connection> nats_;
  std::unique_ptr<nats::ConfigStore> nats_store_;
  std::unique_ptr<config::Store> local_store_;  // without NATS
  config::Store* store_ = nullptr;
  std::unique_ptr<nats::Registry> registry_;
  std::unique_ptr<admin::SelfDirectory> self_;  // without NATS
  std::atomic<bool> config_read_{false};
};

/// A split process's events (PLATFORM.md "Events"): its module's outbox relayed to JetStream stream
/// SHOP_EVENTS (cursor `jetstream`) and, for `subscriptions`, durable JetStream consumers; figures
/// on /metrics and the relay's state in /health/ready. Without NATS (`--nats-url off`) nothing is
/// published or consumed and a warning says so: the events wait in the outbox. Declare it after
/// the database and the service the subscriptions call, so that it stops before them.
class SplitEvents {
 public:
  SplitEvents(SplitPlatform& platform, std::string module, sql::Database& db,
              std::vector<events::Subscription> subscriptions);
  ~SplitEvents();
  SplitEvents(const SplitEvents&) = delete;
  SplitEvents& operator=(const SplitEvents&) = delete;

  /// Adds the figures and the state to `app` (EventRelays::Mount).
  void Mount(http::App& app);

 private:
  std::unique_ptr<nats::JetStreamPublisher> publisher_;
  std::unique_ptr<nats::JetStreamSubscriber> subscriber_;
  EventRelays relays_;  // declared last: its relays stop first
};

}  // namespace shop::runtime
