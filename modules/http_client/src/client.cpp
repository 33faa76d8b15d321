#include "shop/http_client/client.h"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "shop/http/request_context.h"
#include "shop/http_client/circuit_breaker.h"

namespace shop::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

std::atomic<std::uint64_t> next_client_id{1};

/// The calling thread's event loop for its outgoing calls; calls run it until they complete.
asio::io_context& ThreadContext() {
  thread_local asio::io_context ioc{1};
  return ioc;
}

/// Starts an asynchronous operation and runs this thread's loop until it completes.
template <class Start>
beast::error_code RunToCompletion(Start&& start) {
  asio::io_context& ioc = ThreadContext();
  beast::error_code result = asio::error::would_block;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

struct Connection {
  explicit Connection(asio::io_context& ioc) : stream(ioc) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  Clock::time_point last_used = Clock::now();
};

bool IsHopByHop(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te",
                             "trailer", "proxy-authorization", "proxy-authenticate", "expect", "host"}) {
    if (EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

CallError Classify(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return CallError::kTimeout;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
    return CallError::kBadResponse;
  }
  return CallError::kUnavailable;
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

  explicit Impl(const ClientOptions& o)
      : options(o), breaker(o.name, o.breaker_failures, o.breaker_open_for) {
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
    // The thread's loop must outlive the pooled connections that use it: thread_locals are destroyed
    // in reverse order of construction, so it is constructed first.
    ThreadContext();
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
    asio::io_context& ioc = ThreadContext();
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) return std::unexpected(CallError::kUnavailable);
    auto c = std::make_unique<Connection>(ioc);
    c->stream.expires_after(options.connect_timeout);
    ec = RunToCompletion([&](auto handler) { c->stream.async_connect(endpoints, std::move(handler)); });
    if (ec) return std::unexpected(ec == beast::error::timeout ? CallError::kTimeout : CallError::kUnavailable);
    c->stream.socket().set_option(tcp::no_delay(true), ec);
    return c;
  }

  /// One attempt. A pooled connection the server has meanwhile closed is replaced once, transparently:
  /// the request never reached the application.
  std::expected<Response, CallError> Attempt(const bhttp::request<bhttp::string_body>& out) {
    for (int round = 0;; ++round) {
      std::unique_ptr<Connection> c = round == 0 ? TakeIdle() : nullptr;
      const bool reused = c != nullptr;
      if (!c) {
        auto fresh = Connect();
        if (!fresh) return std::unexpected(fresh.error());
        c = std::move(*fresh);
      }
      c->stream.expires_after(options.request_timeout);
      beast::error_code ec =
          RunToCompletion([&](auto handler) { bhttp::async_write(c->stream, out, std::move(handler)); });
      if (ec && reused) continue;
      if (ec) return std::unexpected(Classify(ec));

      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(options.max_response_bytes);
      ec = RunToCompletion([&](auto handler) { bhttp::async_read(c->stream, c->buffer, parser, std::move(handler)); });
      if (ec && reused && !parser.got_some() && ec != beast::error::timeout) continue;
      if (ec) return std::unexpected(Classify(ec));

      auto& in = parser.get();
      Response response;
      response.status = static_cast<int>(in.result_int());
      for (const auto& field : in) {
        if (!IsHopByHop(field.name_string())) {
          response.headers.Add(std::string(field.name_string()), std::string(field.value()));
        }
      }
      const bool keep = in.keep_alive();
      response.body = std::move(in.body());
      if (keep) {
        c->last_used = Clock::now();
        c->stream.expires_never();
        Pool().push_back(std::move(c));
      }
      return response;
    }
  }

  bhttp::request<bhttp::string_body> ToBeast(Request& request) {
    bhttp::request<bhttp::string_body> out;
    out.version(11);
    out.method_string(request.method);
    out.target(request.target);
    for (const auto& field : request.headers) {
      if (IsHopByHop(field.name) || EqualsIgnoreCase(field.name, "X-Request-Id") ||
          EqualsIgnoreCase(field.name, "traceparent")) {
        continue;
      }
      out.set(field.name, field.value);
    }
    out.set(bhttp::field::host, host + ":" + port);
    if (const RequestContext* ctx = CurrentRequest(); ctx && !ctx->request_id.empty()) {
      out.set("X-Request-Id", ctx->request_id);
    } else if (auto sent = request.headers.Get("X-Request-Id"); !sent.empty()) {
      out.set("X-Request-Id", sent);
    }
    out.set("traceparent", OutgoingTraceparent());
    out.keep_alive(true);
    out.body() = std::move(request.body);
    out.prepare_payload();
    return out;
  }
};

Client::Client(ClientOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}
Client::~Client() = default;

std::expected<Response, CallError> Client::Send(Request request, bool safe_to_repeat) {
  if (!impl_->breaker.Allow()) return std::unexpected(CallError::kCircuitOpen);
  const auto out = impl_->ToBeast(request);
  const int attempts = safe_to_repeat ? std::max(1, options_.max_attempts) : 1;
  thread_local std::minstd_rand jitter(std::random_device{}());
  std::expected<Response, CallError> result = std::unexpected(CallError::kUnavailable);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    result = impl_->Attempt(out);
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
