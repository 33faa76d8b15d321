#include "shop/http_client/client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/beast/core/flat_buffer.hpp>
#include <cerrno>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "shop/http/request_context.h"
#include "shop/http/wire_parser.h"
#include "shop/http_client/circuit_breaker.h"
#include "wire_common.h"

namespace shop::http {
namespace {

namespace beast = boost::beast;
using Clock = std::chrono::steady_clock;


/// A keep-alive connection: a non-blocking socket waited on with poll(2) against a deadline.
/// Plain blocking-style I/O on the calling thread: one send and one receive per call, no event
/// loop to spin up and no timer to re-arm (an earlier Asio version cost ~40 us of CPU a call).
struct Connection {
  int fd = -1;
  beast::flat_buffer buffer;  // bytes received but not yet parsed
  Clock::time_point last_used = Clock::now();

  explicit Connection(int socket) : fd(socket) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { ::close(fd); }
};

enum class Wait { kReady, kTimeout, kError };

/// Waits until `fd` is ready for `events` or `deadline` passes.
Wait WaitFor(int fd, short events, Clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return Wait::kTimeout;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return (p.revents & (events | POLLHUP | POLLERR)) ? Wait::kReady : Wait::kError;
    if (n == 0) return Wait::kTimeout;
    if (errno != EINTR) return Wait::kError;
  }
}

CallError FromWait(Wait w) { return w == Wait::kTimeout ? CallError::kTimeout : CallError::kUnavailable; }

std::expected<void, CallError> SendAll(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (Wait w = WaitFor(fd, POLLOUT, deadline); w != Wait::kReady) return std::unexpected(FromWait(w));
      continue;
    }
    return std::unexpected(CallError::kUnavailable);
  }
  return {};
}

}  // namespace

std::string_view Describe(CallError error) {
  switch (error) {
    case CallError::kUnavailable: return "could not be reached";
    case CallError::kTimeout: return "timed out";
    case CallError::kCircuitOpen: return "is failing; calls are paused (circuit open)";
    case CallError::kBadResponse: return "sent an invalid response";
  }
  return "failed";
}

namespace {

/// A URL of the form `http://host:port` split into host and port; throws std::invalid_argument.
std::pair<std::string, std::string> SplitBaseUrl(const std::string& base_url) {
  constexpr std::string_view kScheme = "http://";
  std::string_view url = base_url;
  if (!url.starts_with(kScheme)) throw std::invalid_argument("base URL must start with http://: " + base_url);
  url.remove_prefix(kScheme.size());
  while (url.ends_with('/')) url.remove_suffix(1);
  const auto colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == url.size() ||
      url.find('/') != std::string_view::npos) {
    throw std::invalid_argument("base URL must be http://host:port: " + base_url);
  }
  return {std::string(url.substr(0, colon)), std::string(url.substr(colon + 1))};
}

std::atomic<std::uint64_t> next_endpoint_id{1};
std::atomic<std::uint64_t> removal_epoch{0};

/// A fixed set of one endpoint: a static URL.
class StaticEndpoints final : public EndpointSource {
 public:
  StaticEndpoints(const std::string& url, const ClientOptions& o) {
    auto set = std::make_shared<EndpointSet>();
    set->endpoints.push_back(std::make_shared<Endpoint>("static", url, o.name, o.breaker_open_for));
    set_ = std::move(set);
  }
  std::shared_ptr<const EndpointSet> Current() const override { return set_; }

 private:
  std::shared_ptr<const EndpointSet> set_;
};

/// This thread's idle keep-alive connections, per endpoint.
struct ThreadPool {
  std::shared_ptr<Endpoint> endpoint;  // kept to see `removed`
  std::vector<std::unique_ptr<Connection>> idle;
};
struct ThreadPools {
  std::unordered_map<std::uint64_t, ThreadPool> by_endpoint;
  std::uint64_t seen_removal_epoch = 0;
};
ThreadPools& Pools() {
  thread_local ThreadPools pools;
  const std::uint64_t epoch = removal_epoch.load(std::memory_order_acquire);
  if (epoch != pools.seen_removal_epoch) {
    pools.seen_removal_epoch = epoch;
    std::erase_if(pools.by_endpoint, [](const auto& entry) { return entry.second.endpoint->removed.load(); });
  }
  return pools;
}

}  // namespace

Endpoint::Endpoint(std::string instance_id, std::string base_url, std::string service,
                   std::chrono::milliseconds breaker_open_for, std::string local_socket_path)
    : id(next_endpoint_id++),
      instance(std::move(instance_id)),
      url(std::move(base_url)),
      local_socket(std::move(local_socket_path)),
      breaker(service + "/" + instance, 5, breaker_open_for) {
  std::tie(host, port) = SplitBaseUrl(url);
  host_port = host + ":" + port;
  last_seen_ms = SteadyNowMs();
}

std::int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

std::unique_ptr<EndpointSource> MakeStaticEndpoints(const ClientOptions& options) {
  return std::make_unique<StaticEndpoints>(options.base_url, options);
}

void NoteEndpointsRemoved() { removal_epoch.fetch_add(1, std::memory_order_acq_rel); }

std::uint64_t EndpointRemovalEpoch() { return removal_epoch.load(std::memory_order_acquire); }

/// The next live instance round robin, not one of `tried` while others remain, with its breaker's
/// permission. Null when none: `refused` tells whether some were skipped for an open breaker.
std::shared_ptr<Endpoint> PickEndpoint(const EndpointSet& set, std::atomic<std::uint64_t>& round_robin,
                                     const std::vector<std::uint64_t>& tried, bool& refused) {
  const std::size_t n = set.endpoints.size();
  if (n == 0) return nullptr;
  const std::int64_t now = SteadyNowMs();
  const std::size_t start = round_robin.fetch_add(1, std::memory_order_relaxed);
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::shared_ptr<Endpoint>& e = set.endpoints[(start + i) % n];
      if (e->removed.load(std::memory_order_relaxed)) continue;
      if (set.liveness.count() > 0 && now - e->last_seen_ms.load(std::memory_order_relaxed) > set.liveness.count()) {
        continue;
      }
      if (pass == 0 && std::ranges::find(tried, e->id) != tried.end()) continue;
      if (!e->breaker.Allow()) {
        refused = true;
        continue;
      }
      return e;
    }
  }
  return nullptr;
}



namespace {

/// The connection that carried (or failed to carry) one attempt.
struct AttemptResult {
  std::expected<Response, CallError> response = std::unexpected(CallError::kUnavailable);
  bool sent = false;  ///< false: no connection could be made, the request never left
};

}  // namespace

struct Client::Impl {
  const ClientOptions& options;
  std::unique_ptr<EndpointSource> owned_source;
  const EndpointSource* source;
  WireLimits limits;
  CallSettings own_settings;
  const CallSettings& settings;
  std::atomic<std::uint64_t> round_robin{0};

  explicit Impl(const ClientOptions& o)
      : options(o),
        settings(o.settings ? *o.settings : own_settings) {
    own_settings.request_timeout_ms = o.request_timeout.count();
    own_settings.breaker_failures = o.breaker_failures;
    limits.max_body_bytes = o.max_response_bytes;
    limits.max_header_bytes = o.max_response_header_bytes;
    if (o.endpoints) {
      source = o.endpoints;
    } else {
      owned_source = MakeStaticEndpoints(o);
      source = owned_source.get();
    }
  }

  std::unique_ptr<Connection> TakeIdle(const std::shared_ptr<Endpoint>& endpoint) {
    auto& pools = Pools().by_endpoint;
    auto it = pools.find(endpoint->id);
    if (it == pools.end()) return nullptr;
    auto& idle = it->second.idle;
    while (!idle.empty()) {
      std::unique_ptr<Connection> c = std::move(idle.back());
      idle.pop_back();
      if (Clock::now() - c->last_used < options.max_idle) return c;
    }
    return nullptr;
  }

  void PutIdle(const std::shared_ptr<Endpoint>& endpoint, std::unique_ptr<Connection> c) {
    auto& pool = Pools().by_endpoint[endpoint->id];
    if (!pool.endpoint) pool.endpoint = endpoint;
    pool.idle.push_back(std::move(c));
  }

  std::expected<std::unique_ptr<Connection>, CallError> Connect(const Endpoint& endpoint) {
    const auto deadline = Clock::now() + options.connect_timeout;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(endpoint.host.c_str(), endpoint.port.c_str(), &hints, &found) != 0) {
      return std::unexpected(CallError::kUnavailable);
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
    CallError error = CallError::kUnavailable;
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      auto c = std::make_unique<Connection>(fd);
      if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) continue;
        if (Wait w = WaitFor(fd, POLLOUT, deadline); w != Wait::kReady) {
          error = FromWait(w);
          continue;
        }
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return c;
    }
    return std::unexpected(error);
  }

  /// Reads one response from `c` before `deadline`. `got_some` tells whether any byte arrived.
  std::expected<Response, CallError> ReadResponse(Connection& c, Clock::time_point deadline, bool& got_some,
                                                  bool& keep_alive) {
    ResponseParser parser(limits);
    const std::size_t max_buffered = limits.max_buffered_bytes();
    while (true) {
      const ReadState state = FeedBuffered(parser, c.buffer, max_buffered);
      if (state == ReadState::kFailed) return std::unexpected(CallError::kBadResponse);
      if (state == ReadState::kDone) break;
      if (Wait w = WaitFor(c.fd, POLLIN, deadline); w != Wait::kReady) return std::unexpected(FromWait(w));
      auto space = c.buffer.prepare(std::min<std::size_t>(16 * 1024, max_buffered - c.buffer.size()));
      const ssize_t n = ::recv(c.fd, space.data(), space.size(), 0);
      if (n > 0) {
        got_some = true;
        c.buffer.commit(static_cast<std::size_t>(n));
      } else if (n == 0) {
        // Closed before a whole response. (Beast would call an empty stream a complete message.)
        if (!parser.got_some()) return std::unexpected(CallError::kUnavailable);
        parser.FeedEof();
        if (!parser.done()) return std::unexpected(CallError::kUnavailable);
        break;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return std::unexpected(CallError::kUnavailable);
      }
    }
    keep_alive = parser.keep_alive();
    return EndToEnd(std::move(parser.message()));
  }

  /// One attempt on `endpoint`. A pooled connection the server has meanwhile closed is replaced
  /// once, transparently: the request never reached the application.
  AttemptResult Attempt(const std::shared_ptr<Endpoint>& endpoint, const std::string& wire) {
    AttemptResult result;
    for (int round = 0;; ++round) {
      std::unique_ptr<Connection> c = round == 0 ? TakeIdle(endpoint) : nullptr;
      const bool reused = c != nullptr;
      if (!c) {
        auto fresh = Connect(*endpoint);
        if (!fresh) {
          result.response = std::unexpected(fresh.error());
          return result;
        }
        c = std::move(*fresh);
      }
      result.sent = true;
      const auto deadline =
          Clock::now() + std::chrono::milliseconds(settings.request_timeout_ms.load(std::memory_order_relaxed));
      auto sent = SendAll(c->fd, wire, deadline);
      if (!sent && sent.error() == CallError::kTimeout) {
        result.response = std::unexpected(sent.error());
        return result;
      }
      // A broken send is not yet a failure: the server may have answered and closed while the request
      // was still going out (a 413 or 431 for what the caller sent). Read that answer if it is there.
      bool got_some = false;
      bool keep_alive = false;
      auto response = ReadResponse(*c, deadline, got_some, keep_alive);
      if (!sent) keep_alive = false;
      if (!response) {
        if (reused && !got_some && response.error() != CallError::kTimeout) continue;
        result.response = !sent ? std::unexpected(sent.error()) : std::move(response);
        return result;
      }
      if (keep_alive && !endpoint->removed.load(std::memory_order_relaxed)) {
        c->last_used = Clock::now();
        PutIdle(endpoint, std::move(c));
      }
      result.response = std::move(response);
      return result;
    }
  }

};

Client::Client(ClientOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}
Client::~Client() = default;

std::expected<Response, CallError> Client::Send(Request request, bool safe_to_repeat) {
  const std::shared_ptr<const EndpointSet> set = impl_->source->Current();
  const int attempts = safe_to_repeat ? std::max(1, options_.max_attempts) : 1;
  const int threshold = impl_->settings.breaker_failures.load(std::memory_order_relaxed);
  thread_local std::minstd_rand jitter(std::random_device{}());
  std::vector<std::uint64_t> tried;
  std::expected<Response, CallError> result = std::unexpected(CallError::kUnavailable);
  std::string wire;
  std::string_view wire_host;
  int attempt = 1;
  // A request that never left (no connection) moves on to an instance not tried yet without counting as
  // an attempt; once every instance was tried, it is an attempt like any other.
  while (attempt <= attempts) {
    bool refused = false;
    std::shared_ptr<Endpoint> endpoint = PickEndpoint(*set, impl_->round_robin, tried, refused);
    if (!endpoint) {
      if (tried.empty()) return std::unexpected(refused ? CallError::kCircuitOpen : CallError::kUnavailable);
      break;
    }
    tried.push_back(endpoint->id);
    const std::string_view host_port = endpoint->host_port;
    if (wire.empty() || wire_host != host_port) {
      wire = SerializeRequest(request, host_port);
      wire_host = host_port;
    }
    AttemptResult r = impl_->Attempt(endpoint, wire);
    result = std::move(r.response);
    const bool failed = !result || result->status >= 500;
    if (!failed) {
      endpoint->breaker.RecordSuccess();
      return result;
    }
    endpoint->breaker.RecordFailure(threshold);
    if (!r.sent && tried.size() < set->endpoints.size()) continue;
    const bool retry = !result || Retryable(result->status);
    if (!retry || attempt == attempts) break;
    // Exponential backoff with jitter (0.5x to 1.5x), so retrying clients do not move in lockstep.
    const auto base = options_.backoff * (1 << (attempt - 1));
    std::this_thread::sleep_for(base / 2 + base * (jitter() % 1000) / 1000);
    ++attempt;
  }
  return result;
}

bool Client::Probe(std::string_view path) {
  Request probe;
  probe.method = "GET";
  probe.target = std::string(path);
  auto response = Send(std::move(probe), false);
  return response && response->status == 200;
}

}  // namespace shop::http
