#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shop/http_client/circuit_breaker.h"

namespace shop::http {

/// One instance of a dependency that a Client may call, with its own breaker (one failing instance
/// is skipped while the others serve). Shared by every snapshot that lists the instance, so the
/// breaker and liveness survive changes of the rest of the set.
struct Endpoint {
  /// `url` is `http://host:port` (std::invalid_argument otherwise); `service` names the breaker in logs.
  Endpoint(std::string instance, std::string url, std::string service,
           std::chrono::milliseconds breaker_open_for = std::chrono::milliseconds(1000),
           std::string local_socket = {});

  const std::uint64_t id;        ///< unique in the process; keys connection pools
  const std::string instance;    ///< registry instance id, or "static"
  const std::string url;         ///< `http://host:port`
  std::string host;
  std::string port;
  std::string host_port;  ///< the Host field: `host:port`
  /// A Unix-domain socket the instance also serves on (a path; empty: none). A caller on the same host
  /// connects there first (no TCP/IP stack: about half the CPU of a loopback round trip) and falls back
  /// to `url` when it cannot: another host, another filesystem, a file left by a dead process.
  const std::string local_socket;
  CircuitBreaker breaker;
  /// Steady-clock milliseconds of the instance's last heartbeat seen; calls stop when it is older
  /// than the set's liveness window.
  std::atomic<std::int64_t> last_seen_ms{0};
  /// Set once the instance left the registry: pooled connections to it are closed.
  std::atomic<bool> removed{false};
};

/// The instances of one dependency at one moment: compatible ones only (another major version is
/// never called). Immutable once published.
struct EndpointSet {
  std::vector<std::shared_ptr<Endpoint>> endpoints;
  /// Heartbeats older than this mean the instance died without deregistering. Zero: no liveness
  /// check (a static URL, or a registry that lost its own connection and serves its last view).
  std::chrono::milliseconds liveness{0};
};

/// Where a Client finds its dependency's instances: a static URL or the service registry.
class EndpointSource {
 public:
  virtual ~EndpointSource() = default;
  /// The current set; never null. Lock-free, no I/O: it is read on every call.
  virtual std::shared_ptr<const EndpointSet> Current() const = 0;
};

/// Milliseconds on the steady clock, the unit of Endpoint::last_seen_ms.
std::int64_t SteadyNowMs();

/// Pooled connections to endpoints marked removed are closed by each thread on its next call;
/// a registry calls this after marking some, so threads know to look.
void NoteEndpointsRemoved();
/// Grows at every NoteEndpointsRemoved(): a pool that saw another value looks for removed endpoints.
std::uint64_t EndpointRemovalEpoch();

/// The next live endpoint of `set` round robin (`round_robin` is the caller's counter), not one of
/// `tried` while others remain, with its breaker's permission (a true Allow() in half-open state
/// reserves its probe). Null when none; `refused` tells whether some were skipped for an open breaker.
std::shared_ptr<Endpoint> PickEndpoint(const EndpointSet& set, std::atomic<std::uint64_t>& round_robin,
                                       const std::vector<std::uint64_t>& tried, bool& refused);

}  // namespace shop::http
