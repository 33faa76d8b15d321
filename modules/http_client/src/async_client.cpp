#include "shop/http_client/async_client.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <charconv>
#include <optional>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "shop/http/request_context.h"
#include "shop/http/wire_parser.h"
#include "shop/platform/log.h"
#include "wire_common.h"

namespace shop::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

/// A keep-alive connection of one event loop, with what it received beyond the last response.
struct Pooled {
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  Clock::time_point last_used = Clock::now();
};

/// This event loop's idle connections per endpoint (one loop per server thread, so thread_local is
/// per loop, and no lock is needed).
struct LoopPools {
  struct Pool {
    std::shared_ptr<Endpoint> endpoint;
    std::vector<Pooled> idle;
  };
  std::unordered_map<std::uint64_t, Pool> by_endpoint;
  std::uint64_t seen_removal_epoch = 0;
};

LoopPools& Pools() {
  thread_local LoopPools pools;
  const std::uint64_t epoch = EndpointRemovalEpoch();
  if (epoch != pools.seen_removal_epoch) {
    pools.seen_removal_epoch = epoch;
    // Connections to instances that left the registry are closed (their streams destroyed).
    std::erase_if(pools.by_endpoint, [](const auto& entry) { return entry.second.endpoint->removed.load(); });
  }
  return pools;
}

struct AttemptResult {
  std::expected<Response, CallError> response = std::unexpected(CallError::kUnavailable);
  bool sent = false;  ///< false: no connection could be made, the request never left
};

CallError FromError(const boost::system::error_code& ec) {
  return ec == beast::error::timeout ? CallError::kTimeout : CallError::kUnavailable;
}

}  // namespace

struct AsyncClient::Impl {
  ClientOptions options;
  std::unique_ptr<EndpointSource> owned_source;
  const EndpointSource* source = nullptr;
  CallSettings own_settings;
  const CallSettings* settings = nullptr;
  WireLimits limits;
  std::atomic<std::uint64_t> round_robin{0};

  /// One call in flight: everything its coroutine needs, owned by it.
  struct Call {
    std::shared_ptr<Impl> impl;
    Request request;
    bool safe_to_repeat = false;
    std::string request_id;
    std::string traceparent;
    Completion done;
  };

  std::optional<Pooled> TakeIdle(const std::shared_ptr<Endpoint>& endpoint) {
    auto& pools = Pools().by_endpoint;
    auto it = pools.find(endpoint->id);
    if (it == pools.end()) return std::nullopt;
    auto& idle = it->second.idle;
    while (!idle.empty()) {
      Pooled c = std::move(idle.back());
      idle.pop_back();
      if (Clock::now() - c.last_used < options.max_idle) return c;
    }
    return std::nullopt;
  }

  void PutIdle(const std::shared_ptr<Endpoint>& endpoint, Pooled c) {
    auto& pool = Pools().by_endpoint[endpoint->id];
    if (!pool.endpoint) pool.endpoint = endpoint;
    c.last_used = Clock::now();
    pool.idle.push_back(std::move(c));
  }

  asio::awaitable<std::expected<Pooled, CallError>> Connect(asio::io_context& loop, const Endpoint& endpoint) {
    Pooled c;
    c.stream = std::make_unique<beast::tcp_stream>(loop);
    c.stream->expires_after(options.connect_timeout);
    std::uint16_t port = 0;
    std::from_chars(endpoint.port.data(), endpoint.port.data() + endpoint.port.size(), port);
    boost::system::error_code ec;
    const asio::ip::address address = asio::ip::make_address(endpoint.host, ec);
    if (!ec) {
      auto [connect_ec] = co_await c.stream->async_connect(tcp::endpoint(address, port), kUseTuple);
      ec = connect_ec;
    } else {
      // A name (compose, Swarm): resolved per connection, which pooling makes rare.
      tcp::resolver resolver(loop);
      auto [resolve_ec, results] = co_await resolver.async_resolve(endpoint.host, endpoint.port, kUseTuple);
      if (resolve_ec) co_return std::unexpected(CallError::kUnavailable);
      auto [connect_ec, ignored] = co_await c.stream->async_connect(results, kUseTuple);
      ec = connect_ec;
    }
    if (ec) co_return std::unexpected(FromError(ec));
    c.stream->socket().set_option(tcp::no_delay(true), ec);
    co_return c;
  }

  /// Reads one response; the stream's deadline is already set.
  asio::awaitable<std::expected<Response, CallError>> ReadResponse(Pooled& c, bool& got_some, bool& keep_alive) {
    ResponseParser parser(limits);
    const std::size_t max_buffered = limits.max_buffered_bytes();
    while (true) {
      const ReadState state = FeedBuffered(parser, c.buffer, max_buffered);
      if (state == ReadState::kFailed) co_return std::unexpected(CallError::kBadResponse);
      if (state == ReadState::kDone) break;
      const std::size_t room = std::min<std::size_t>(16 * 1024, max_buffered - c.buffer.size());
      auto [ec, n] = co_await c.stream->async_read_some(c.buffer.prepare(room), kUseTuple);
      if (!ec) {
        got_some = got_some || n > 0;
        c.buffer.commit(n);
        continue;
      }
      if (ec == asio::error::eof) {
        // Closed before a whole response. (Beast would call an empty stream a complete message.)
        if (!parser.got_some()) co_return std::unexpected(CallError::kUnavailable);
        parser.FeedEof();
        if (!parser.done()) co_return std::unexpected(CallError::kUnavailable);
        break;
      }
      co_return std::unexpected(FromError(ec));
    }
    keep_alive = parser.keep_alive();
    co_return EndToEnd(std::move(parser.message()));
  }

  /// One attempt on `endpoint`. A pooled connection the server has meanwhile closed is replaced
  /// once, transparently: the request never reached the application.
  asio::awaitable<AttemptResult> Attempt(asio::io_context& loop, std::shared_ptr<Endpoint> endpoint, std::string wire) {
    AttemptResult result;
    for (int round = 0;; ++round) {
      std::optional<Pooled> c;
      if (round == 0) c = TakeIdle(endpoint);
      const bool reused = c.has_value();
      if (!c) {
        auto fresh = co_await Connect(loop, *endpoint);
        if (!fresh) {
          result.response = std::unexpected(fresh.error());
          co_return result;
        }
        c = std::move(*fresh);
      }
      result.sent = true;
      c->stream->expires_after(std::chrono::milliseconds(settings->request_timeout_ms.load(std::memory_order_relaxed)));
      auto [write_ec, written] = co_await asio::async_write(*c->stream, asio::buffer(wire), kUseTuple);
      if (write_ec == beast::error::timeout) {
        result.response = std::unexpected(CallError::kTimeout);
        co_return result;
      }
      // A broken write is not yet a failure: the server may have answered and closed while the request
      // was still going out (a 413 for what the caller sent). Read that answer if it is there.
      bool got_some = false;
      bool keep_alive = false;
      auto response = co_await ReadResponse(*c, got_some, keep_alive);
      if (write_ec) keep_alive = false;
      if (!response) {
        if (reused && !got_some && response.error() != CallError::kTimeout) continue;
        result.response = write_ec ? std::unexpected(CallError::kUnavailable) : std::move(response);
        co_return result;
      }
      if (keep_alive && !endpoint->removed.load(std::memory_order_relaxed)) {
        c->stream->expires_never();
        PutIdle(endpoint, std::move(*c));
      }
      result.response = std::move(response);
      co_return result;
    }
  }

  /// Runs one call and answers it exactly once, whatever happens (an exception escaping a detached
  /// coroutine would end the server thread).
  static asio::awaitable<void> Run(asio::io_context& loop, std::shared_ptr<Call> call) {
    std::expected<Response, CallError> result = std::unexpected(CallError::kUnavailable);
    try {
      result = co_await Exchange(loop, call);
    } catch (const std::exception& e) {
      log::Write(log::Level::kError, "call failed", {{"dependency", call->impl->options.name}, {"error", e.what()}});
    }
    call->done(std::move(result));
  }

  static asio::awaitable<std::expected<Response, CallError>> Exchange(asio::io_context& loop, std::shared_ptr<Call> call) {
    Impl& impl = *call->impl;
    const std::shared_ptr<const EndpointSet> set = impl.source->Current();
    const int attempts = call->safe_to_repeat ? std::max(1, impl.options.max_attempts) : 1;
    const int threshold = impl.settings->breaker_failures.load(std::memory_order_relaxed);
    thread_local std::minstd_rand jitter(std::random_device{}());
    std::vector<std::uint64_t> tried;
    std::expected<Response, CallError> result = std::unexpected(CallError::kUnavailable);
    int attempt = 1;
    while (attempt <= attempts) {
      bool refused = false;
      std::shared_ptr<Endpoint> endpoint = PickEndpoint(*set, impl.round_robin, tried, refused);
      if (!endpoint) {
        if (tried.empty()) result = std::unexpected(refused ? CallError::kCircuitOpen : CallError::kUnavailable);
        break;
      }
      tried.push_back(endpoint->id);
      AttemptResult r = co_await impl.Attempt(
          loop, endpoint, SerializeRequest(call->request, endpoint->host_port, call->request_id, call->traceparent));
      result = std::move(r.response);
      const bool failed = !result || result->status >= 500;
      if (!failed) {
        endpoint->breaker.RecordSuccess();
        break;
      }
      endpoint->breaker.RecordFailure(threshold);
      // Never left: another instance may take it, whatever the method.
      if (!r.sent && tried.size() < set->endpoints.size()) continue;
      const bool retry = !result || Retryable(result->status);
      if (!retry || attempt == attempts) break;
      // Exponential backoff with jitter (0.5x to 1.5x), on a timer: no thread waits.
      const auto base = impl.options.backoff * (1 << (attempt - 1));
      asio::steady_timer pause(loop, base / 2 + base * (jitter() % 1000) / 1000);
      co_await pause.async_wait(kUseTuple);
      ++attempt;
    }
    co_return result;
  }
};

AsyncClient::AsyncClient(ClientOptions options) : options_(std::move(options)), impl_(std::make_shared<Impl>()) {
  impl_->options = options_;
  impl_->limits.max_body_bytes = options_.max_response_bytes;
  impl_->limits.max_header_bytes = options_.max_response_header_bytes;
  impl_->own_settings.request_timeout_ms = options_.request_timeout.count();
  impl_->own_settings.breaker_failures = options_.breaker_failures;
  impl_->settings = options_.settings ? options_.settings : &impl_->own_settings;
  if (options_.endpoints) {
    impl_->source = options_.endpoints;
  } else {
    impl_->owned_source = MakeStaticEndpoints(options_);
    impl_->source = impl_->owned_source.get();
  }
}

AsyncClient::~AsyncClient() = default;

void AsyncClient::Send(const Request& request, bool safe_to_repeat, Completion done) {
  auto* loop = static_cast<asio::io_context*>(ThisThreadEventLoop());
  if (!loop) throw std::logic_error("AsyncClient::Send must be called on a server I/O thread");
  auto call = std::make_shared<Impl::Call>();
  call->impl = impl_;
  call->request = request;
  call->safe_to_repeat = safe_to_repeat;
  // The handler's request id and trace context, captured now: the call goes on after its stack is gone.
  if (const RequestContext* ctx = CurrentRequest()) call->request_id = ctx->request_id;
  call->traceparent = OutgoingTraceparent();
  call->done = std::move(done);
  asio::co_spawn(*loop, Impl::Run(*loop, std::move(call)), asio::detached);
}

bool AsyncClient::HasLiveEndpoint() const {
  const auto set = impl_->source->Current();
  const std::int64_t now = SteadyNowMs();
  return std::ranges::any_of(set->endpoints, [&](const std::shared_ptr<Endpoint>& e) {
    return !e->removed.load() && (set->liveness.count() == 0 || now - e->last_seen_ms.load() <= set->liveness.count());
  });
}

}  // namespace shop::http
