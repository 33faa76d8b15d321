#include "shop/http_client/client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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

namespace shop::http {
namespace {

namespace beast = boost::beast;
using Clock = std::chrono::steady_clock;

std::atomic<std::uint64_t> next_client_id{1};

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

bool IsHopByHop(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te",
                             "trailer", "proxy-authorization", "proxy-authenticate", "expect", "host"}) {
    if (EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

/// RFC 9110 §7.6.1: the fields a Connection header names apply to this hop only, like the fixed set.
bool NamedByConnection(const Headers& headers, std::string_view name) {
  for (const auto& field : headers) {
    if (!EqualsIgnoreCase(field.name, "Connection")) continue;
    std::string_view list = field.value;
    while (!list.empty()) {
      const auto comma = list.find(',');
      std::string_view option = list.substr(0, comma);
      while (!option.empty() && (option.front() == ' ' || option.front() == '\t')) option.remove_prefix(1);
      while (!option.empty() && (option.back() == ' ' || option.back() == '\t')) option.remove_suffix(1);
      if (EqualsIgnoreCase(option, name)) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return false;
}

bool Retryable(int status) { return status == 502 || status == 503 || status == 504; }

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

struct Client::Impl {
  const ClientOptions& options;
  std::uint64_t id = next_client_id++;
  std::string host;
  std::string port;
  CircuitBreaker breaker;
  WireLimits limits;

  explicit Impl(const ClientOptions& o)
      : options(o), breaker(o.name, o.breaker_failures, o.breaker_open_for) {
    limits.max_body_bytes = o.max_response_bytes;
    limits.max_header_bytes = o.max_response_header_bytes;
    constexpr std::string_view kScheme = "http://";
    std::string_view url = o.base_url;
    if (!url.starts_with(kScheme)) throw std::invalid_argument("base URL must start with http://: " + o.base_url);
    url.remove_prefix(kScheme.size());
    while (url.ends_with('/')) url.remove_suffix(1);
    const auto colon = url.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == url.size() ||
        url.find('/') != std::string_view::npos) {
      throw std::invalid_argument("base URL must be http://host:port: " + o.base_url);
    }
    host = url.substr(0, colon);
    port = url.substr(colon + 1);
  }

  /// This thread's idle connections to the dependency.
  std::vector<std::unique_ptr<Connection>>& Pool() {
    thread_local std::unordered_map<std::uint64_t, std::vector<std::unique_ptr<Connection>>> pools;
    return pools[id];
  }

  std::unique_ptr<Connection> TakeIdle() {
    auto& pool = Pool();
    while (!pool.empty()) {
      std::unique_ptr<Connection> c = std::move(pool.back());
      pool.pop_back();
      if (Clock::now() - c->last_used < options.max_idle) return c;
    }
    return nullptr;
  }

  std::expected<std::unique_ptr<Connection>, CallError> Connect() {
    const auto deadline = Clock::now() + options.connect_timeout;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return std::unexpected(CallError::kUnavailable);
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
      if (c.buffer.size() > 0) {
        const auto data = c.buffer.data();
        c.buffer.consume(parser.Feed({static_cast<const char*>(data.data()), data.size()}));
      }
      if (parser.failed()) return std::unexpected(CallError::kBadResponse);
      if (parser.done()) break;
      if (c.buffer.size() >= max_buffered) {
        parser.LineTooLong();
        return std::unexpected(CallError::kBadResponse);
      }
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
    Response& in = parser.message();
    Response response;
    response.status = in.status;
    for (const auto& field : in.headers) {
      if (!IsHopByHop(field.name) && !NamedByConnection(in.headers, field.name)) {
        response.headers.Add(field.name, field.value);
      }
    }
    response.body = std::move(in.body);
    return response;
  }

  /// One attempt. A pooled connection the server has meanwhile closed is replaced once, transparently:
  /// the request never reached the application.
  std::expected<Response, CallError> Attempt(const std::string& wire) {
    for (int round = 0;; ++round) {
      std::unique_ptr<Connection> c = round == 0 ? TakeIdle() : nullptr;
      const bool reused = c != nullptr;
      if (!c) {
        auto fresh = Connect();
        if (!fresh) return std::unexpected(fresh.error());
        c = std::move(*fresh);
      }
      const auto deadline = Clock::now() + options.request_timeout;
      auto sent = SendAll(c->fd, wire, deadline);
      if (!sent && sent.error() == CallError::kTimeout) return std::unexpected(sent.error());
      // A broken send is not yet a failure: the server may have answered and closed while the request
      // was still going out (a 413 or 431 for what the caller sent). Read that answer if it is there.
      bool got_some = false;
      bool keep_alive = false;
      auto response = ReadResponse(*c, deadline, got_some, keep_alive);
      if (!sent) keep_alive = false;
      if (!response) {
        if (reused && !got_some && response.error() != CallError::kTimeout) continue;
        if (!sent) return std::unexpected(sent.error());
        return response;
      }
      if (keep_alive) {
        c->last_used = Clock::now();
        Pool().push_back(std::move(c));
      }
      return response;
    }
  }

  /// The request as bytes on the wire: our headers (hop-by-hop ones dropped), Host, the request id
  /// and trace context of the request being handled, and the body.
  std::string Serialize(const Request& request) {
    std::string out;
    out.reserve(256 + request.body.size());
    out += request.method;
    out += ' ';
    out += request.target.empty() ? "/" : request.target;
    out += " HTTP/1.1\r\nHost: ";
    out += host;
    out += ':';
    out += port;
    out += "\r\n";
    for (const auto& field : request.headers) {
      if (IsHopByHop(field.name) || NamedByConnection(request.headers, field.name) ||
          EqualsIgnoreCase(field.name, "X-Request-Id") ||
          EqualsIgnoreCase(field.name, "traceparent")) {
        continue;
      }
      out += field.name;
      out += ": ";
      out += field.value;
      out += "\r\n";
    }
    std::string_view request_id = request.headers.Get("X-Request-Id");
    if (const RequestContext* ctx = CurrentRequest(); ctx && !ctx->request_id.empty()) request_id = ctx->request_id;
    if (!request_id.empty()) {
      out += "X-Request-Id: ";
      out += request_id;
      out += "\r\n";
    }
    out += "traceparent: ";
    out += OutgoingTraceparent();
    out += "\r\nContent-Length: ";
    out += std::to_string(request.body.size());
    out += "\r\n\r\n";
    out += request.body;
    return out;
  }
};

Client::Client(ClientOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}
Client::~Client() = default;

std::expected<Response, CallError> Client::Send(Request request, bool safe_to_repeat) {
  if (!impl_->breaker.Allow()) return std::unexpected(CallError::kCircuitOpen);
  const std::string wire = impl_->Serialize(request);
  const int attempts = safe_to_repeat ? std::max(1, options_.max_attempts) : 1;
  thread_local std::minstd_rand jitter(std::random_device{}());
  std::expected<Response, CallError> result = std::unexpected(CallError::kUnavailable);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    result = impl_->Attempt(wire);
    const bool failed = !result || result->status >= 500;
    if (!failed) {
      impl_->breaker.RecordSuccess();
      return result;
    }
    impl_->breaker.RecordFailure();
    const bool retry = !result || Retryable(result->status);
    if (!retry || attempt == attempts || impl_->breaker.state() == CircuitBreaker::State::kOpen) break;
    // Exponential backoff with jitter (0.5x to 1.5x), so retrying clients do not move in lockstep.
    const auto base = options_.backoff * (1 << (attempt - 1));
    std::this_thread::sleep_for(base / 2 + base * (jitter() % 1000) / 1000);
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
