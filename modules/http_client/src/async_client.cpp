#include "shop/http_client/async_client.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <charconv>
#include <deque>
#include <optional>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <utility>
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
using Stream = asio::generic::stream_protocol;  // TCP, or a Unix-domain socket on the same host
using Socket = Stream::socket;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

/// A keep-alive connection of one event loop: a non-blocking socket, what it received beyond the last
/// response, and the parser and request buffer it reuses for every call.
struct Pooled {
  std::unique_ptr<Socket> socket;
  beast::flat_buffer buffer;
  std::unique_ptr<ResponseParser> parser;
  std::string wire;
  Clock::time_point last_used = Clock::now();
};

/// One attempt's deadline, as its loop's sweep sees it: in a list per loop, so that starting and ending
/// an attempt costs a link and an unlink, where an Asio timer per operation cost a timer-queue insert,
/// a cancel and a cancelled handler each (about a tenth of the gateway's instructions, callgrind).
struct Deadline {
  Clock::time_point at;
  Socket* socket = nullptr;  // closed when `at` passes
  bool expired = false;
  Deadline* prev = nullptr;
  Deadline* next = nullptr;
};

struct Pipeline;

/// This event loop's idle connections per endpoint, its pipelines and its attempts' deadlines (one loop
/// per server thread, so thread_local is per loop, and no lock is needed).
struct LoopState {
  struct Pool {
    std::shared_ptr<Endpoint> endpoint;
    std::vector<Pooled> idle;
  };
  std::unordered_map<std::uint64_t, Pool> by_endpoint;
  std::unordered_map<std::uint64_t, std::shared_ptr<Pipeline>> pipelines;  // by endpoint id
  std::uint64_t seen_removal_epoch = 0;

  Deadline deadlines;  // sentinel of a circular list
  std::unique_ptr<asio::steady_timer> timer;
  Clock::time_point timer_at = Clock::time_point::max();  // max: not armed

  LoopState() { deadlines.prev = deadlines.next = &deadlines; }
  LoopState(const LoopState&) = delete;
  LoopState& operator=(const LoopState&) = delete;
  /// At thread exit; coroutines still suspended on the loop are destroyed later, with the io_context:
  /// their deadlines must not reach back into this list then.
  ~LoopState() {
    for (Deadline* d = deadlines.next; d != &deadlines;) {
      Deadline* next = d->next;
      d->prev = d->next = nullptr;
      d = next;
    }
  }

  void Link(Deadline& d, asio::io_context& loop) {
    d.prev = deadlines.prev;
    d.next = &deadlines;
    deadlines.prev->next = &d;
    deadlines.prev = &d;
    if (d.at < timer_at) Arm(loop, d.at);
  }
  static void Unlink(Deadline& d) {
    if (!d.next) return;
    d.prev->next = d.next;
    d.next->prev = d.prev;
    d.prev = d.next = nullptr;
  }

  /// The timer fires at the earliest deadline; attempts that end before it just leave the list.
  void Arm(asio::io_context& loop, Clock::time_point at) {
    if (!timer) timer = std::make_unique<asio::steady_timer>(loop);
    timer_at = at;
    timer->expires_at(at);
    timer->async_wait([this, &loop](const boost::system::error_code& ec) {
      if (ec) return;  // re-armed for an earlier deadline, or the loop is going away
      Sweep(loop);
    });
  }

  void Sweep(asio::io_context& loop) {
    const auto now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    for (Deadline* d = deadlines.next; d != &deadlines; d = d->next) {
      if (d->expired) continue;
      if (d->at <= now) {
        d->expired = true;
        boost::system::error_code ignored;
        if (d->socket) d->socket->close(ignored);  // its pending operation ends with an error
      } else {
        next = std::min(next, d->at);
      }
    }
    timer_at = Clock::time_point::max();
    if (next != Clock::time_point::max()) Arm(loop, next);
  }
};

void FailPipeline(Pipeline& p, CallError error);

LoopState& Loop() {
  thread_local LoopState state;
  const std::uint64_t epoch = EndpointRemovalEpoch();
  if (epoch != state.seen_removal_epoch) {
    state.seen_removal_epoch = epoch;
    // Connections to instances that left the registry are closed (their sockets destroyed); the calls
    // still waiting on a pipeline to one go elsewhere, after it has left the map.
    std::erase_if(state.by_endpoint, [](const auto& entry) { return entry.second.endpoint->removed.load(); });
    std::vector<std::shared_ptr<Pipeline>> gone;
    std::erase_if(state.pipelines, [&gone](const auto& entry) {
      if (!entry.second) return true;
      if (!entry.second->endpoint->removed.load()) return false;
      gone.push_back(entry.second);
      return true;
    });
    for (const auto& p : gone) FailPipeline(*p, CallError::kUnavailable);
  }
  return state;
}

/// An attempt's place in its loop's deadline list, for as long as it lives.
class DeadlineScope {
 public:
  DeadlineScope(LoopState& state, asio::io_context& loop) : state_(state), loop_(loop) {}
  ~DeadlineScope() { LoopState::Unlink(deadline_); }
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

  /// Closes `socket` once `timeout` has passed from now, unless Set again first.
  void Set(Socket& socket, std::chrono::milliseconds timeout) {
    LoopState::Unlink(deadline_);
    deadline_.at = Clock::now() + timeout;
    deadline_.socket = &socket;
    deadline_.expired = false;
    state_.Link(deadline_, loop_);
  }
  /// No deadline until Set again.
  void Clear() { LoopState::Unlink(deadline_); }
  bool expired() const { return deadline_.expired; }

 private:
  LoopState& state_;
  asio::io_context& loop_;
  Deadline deadline_;
};

/// What became of one pipelined call: its answer, or why there is none and whether any of the answer
/// had arrived (`started`; false: the server may never have seen the request).
struct PipelineOutcome {
  std::expected<Response, CallError> response;
  bool started = false;
};

/// GET calls from one event loop to one instance, pipelined on one keep-alive connection (RFC 9112
/// §9.3.2: requests sent without waiting for each answer; only a safe method, so a call whose answer
/// never came can be sent again). The requests of one pass of the event loop go out in one write, and
/// the answers, which the server writes together when it reads the requests together
/// (http_server's held-back answers), come back in one read: a fraction of the send, receive and
/// readiness calls per call that a connection per call costs, on both sides. Answers come in request
/// order (RFC 9112 §9.3.2). One failure ends the connection: the call being answered gets it, the
/// others were not answered and go again on their own.
struct Pipeline {
  static constexpr std::size_t kMaxInFlight = 128;  ///< more calls at once take connections of their own

  Pipeline(LoopState& state, asio::io_context& loop, std::shared_ptr<Endpoint> e, Pooled c)
      : endpoint(std::move(e)), conn(std::move(c)), deadline(state, loop) {}

  std::shared_ptr<Endpoint> endpoint;
  Pooled conn;
  /// Requests not yet written.
  std::string out;
  /// The part of them an async_write is writing.
  std::string sending;
  /// Oldest first: answers come in this order.
  std::deque<std::function<void(PipelineOutcome)>> in_flight;
  /// For each answer, from the previous one (or the first request).
  std::chrono::milliseconds timeout{0};
  std::size_t max_buffered = 0;
  DeadlineScope deadline;
  bool flush_queued = false;
  bool writing = false;
  bool reading = false;
  bool broken = false;
};

/// Ends `p`: closes its connection; the call being answered gets `error` (and whether its answer had
/// started), every later one kUnavailable, not started.
void FailPipeline(Pipeline& p, CallError error) {
  if (p.broken) return;
  p.broken = true;
  p.deadline.Clear();
  boost::system::error_code ignored;
  p.conn.socket->close(ignored);  // a pending write or wait ends with an error
  auto waiting = std::move(p.in_flight);
  p.in_flight.clear();
  const bool started = p.conn.parser->got_some();
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    waiting[i](PipelineOutcome{std::unexpected(i == 0 ? error : CallError::kUnavailable), i == 0 && started});
  }
}

/// Writes what `p` has queued: at once when the socket takes it, else by an async_write while more
/// queues up behind it.
void FlushPipeline(const std::shared_ptr<Pipeline>& p) {
  p->flush_queued = false;
  if (p->broken || p->writing || p->out.empty()) return;
  Socket& socket = *p->conn.socket;
  boost::system::error_code ec;
  const std::size_t n = socket.write_some(asio::buffer(p->out), ec);
  if (!ec && n == p->out.size()) {
    p->out.clear();
    return;
  }
  if (ec && ec != asio::error::would_block) {
    FailPipeline(*p, CallError::kUnavailable);
    return;
  }
  p->sending.assign(p->out, ec ? 0 : n);
  p->out.clear();
  p->writing = true;
  asio::co_spawn(
      socket.get_executor(),
      [p]() -> asio::awaitable<void> {
        auto [write_ec, written] = co_await asio::async_write(*p->conn.socket, asio::buffer(p->sending), kUseTuple);
        p->writing = false;
        if (write_ec) {
          FailPipeline(*p, p->deadline.expired() ? CallError::kTimeout : CallError::kUnavailable);
        } else if (!p->out.empty()) {
          FlushPipeline(p);
        }
      },
      asio::detached);
}

/// Reads `p`'s answers in order and hands each to its call, for as long as calls are waiting.
asio::awaitable<void> ReadPipeline(std::shared_ptr<Pipeline> p) {
  Pooled& c = p->conn;
  bool wait_first = true;  // the requests have just gone out (or are about to): nothing can be here yet
  while (!p->broken && !p->in_flight.empty()) {
    const ReadState state_now = FeedBuffered(*c.parser, c.buffer, p->max_buffered);
    if (state_now == ReadState::kFailed) {
      FailPipeline(*p, CallError::kBadResponse);
      break;
    }
    if (state_now == ReadState::kDone) {
      auto finish = std::move(p->in_flight.front());
      p->in_flight.pop_front();
      const bool keep_alive = c.parser->keep_alive();
      Response response = EndToEnd(std::move(c.parser->message()));
      c.parser->Reset();
      c.last_used = Clock::now();
      if (!keep_alive) {
        FailPipeline(*p, CallError::kUnavailable);  // the later calls were not answered
      } else if (!p->in_flight.empty()) {
        p->deadline.Set(*c.socket, p->timeout);
      } else {
        p->deadline.Clear();
      }
      finish(PipelineOutcome{std::move(response), true});  // may queue more calls on `p`
      continue;
    }
    if (!wait_first) {
      const std::size_t room = std::min<std::size_t>(16 * 1024, p->max_buffered - c.buffer.size());
      boost::system::error_code ec;
      const std::size_t n = c.socket->read_some(c.buffer.prepare(room), ec);
      if (!ec) {
        c.buffer.commit(n);
        wait_first = n < room;
        continue;
      }
      if (ec != asio::error::would_block) {
        FailPipeline(*p, p->deadline.expired() ? CallError::kTimeout : CallError::kUnavailable);
        break;
      }
    }
    wait_first = false;
    auto [ec] = co_await c.socket->async_wait(Socket::wait_read, kUseTuple);
    if (ec || p->deadline.expired()) {
      FailPipeline(*p, p->deadline.expired() ? CallError::kTimeout : CallError::kUnavailable);
      break;
    }
  }
  p->reading = false;
}

struct AttemptResult {
  std::expected<Response, CallError> response = std::unexpected(CallError::kUnavailable);
  bool sent = false;  ///< false: no connection could be made, the request never left
};

}  // namespace

struct AsyncClient::Impl {
  ClientOptions options;
  std::unique_ptr<EndpointSource> owned_source;
  const EndpointSource* source = nullptr;
  CallSettings own_settings;
  const CallSettings* settings = nullptr;
  WireLimits limits;
  std::atomic<std::uint64_t> round_robin{0};

  /// One call in flight: everything its coroutine needs, owned by its frame.
  struct Call {
    std::shared_ptr<Impl> impl;
    const Request* request;  // alive until `done` is called
    bool safe_to_repeat = false;
    std::string request_id;
    std::string traceparent;
    Completion done;
    int attempts_used = 0;             // by a pipeline, before this call came to Exchange
    std::vector<std::uint64_t> tried;  // the instance that pipeline was to
    std::shared_ptr<Endpoint> first;   // the instance round robin gave TryPipeline: the first attempt's
  };

  /// Queues a GET `call` on this loop's pipeline to the next instance round robin, or returns false
  /// for Exchange to take it: no instance, any breaker not closed (its probe is Exchange's to make),
  /// no idle connection to make the pipeline of yet (Exchange's call makes one), or the pipeline full.
  /// In the last two cases `call.first` is that instance: round robin has moved on, and Exchange must
  /// not pick again (an instance with no pipeline yet would never get one).
  bool TryPipeline(asio::io_context& loop, Call& call) {
    LoopState& state = Loop();
    const std::shared_ptr<const EndpointSet> set = source->Current();
    for (const auto& e : set->endpoints) {
      if (e->breaker.state() != CircuitBreaker::State::kClosed) return false;
    }
    std::vector<std::uint64_t> none;
    bool refused = false;
    std::shared_ptr<Endpoint> endpoint = PickEndpoint(*set, round_robin, none, refused);
    if (!endpoint) return false;
    auto found = state.pipelines.find(endpoint->id);
    std::shared_ptr<Pipeline> p = found == state.pipelines.end() ? nullptr : found->second;
    if (p && !p->broken && p->in_flight.empty() && Clock::now() - p->conn.last_used >= options.max_idle) {
      FailPipeline(*p, CallError::kUnavailable);  // idle too long: the server may have closed it
    }
    if (!p || p->broken) {
      std::optional<Pooled> idle = TakeIdle(state, endpoint);
      if (!idle) {
        call.first = std::move(endpoint);
        return false;
      }
      p = std::make_shared<Pipeline>(state, loop, endpoint, std::move(*idle));
      state.pipelines[endpoint->id] = p;
      p->conn.parser->Reset();  // it still holds the last answer of the call that pooled it
      p->max_buffered = limits.max_buffered_bytes();
    }
    if (p->in_flight.size() >= Pipeline::kMaxInFlight) {
      call.first = std::move(endpoint);
      return false;
    }
    AppendRequest(p->out, *call.request, endpoint->host_port, call.request_id, call.traceparent);
    p->timeout = std::chrono::milliseconds(settings->request_timeout_ms.load(std::memory_order_relaxed));
    if (p->in_flight.empty()) p->deadline.Set(*p->conn.socket, p->timeout);
    p->in_flight.push_back([&loop, endpoint, call = std::move(call)](PipelineOutcome outcome) mutable {
      Finish(loop, *endpoint, std::move(call), std::move(outcome));
    });
    if (!p->flush_queued) {
      // After the other completions of this pass of the event loop: their requests go in the same write.
      p->flush_queued = true;
      asio::post(loop, [p] { FlushPipeline(p); });
    }
    if (!p->reading) {
      p->reading = true;
      asio::co_spawn(loop, ReadPipeline(p), asio::detached);
    }
    return true;
  }

  /// A pipelined call's end, with Exchange's rules: an answer below 500 is a success; a 5xx or a
  /// failure counts against the instance's breaker and goes to Exchange as its second attempt when
  /// it may be retried; a call that was never answered goes to Exchange as if new.
  static void Finish(asio::io_context& loop, Endpoint& endpoint, Call call, PipelineOutcome outcome) {
    const int threshold = call.impl->settings->breaker_failures.load(std::memory_order_relaxed);
    if (outcome.response && outcome.response->status < 500) {
      endpoint.breaker.RecordSuccess();
      call.done(std::move(outcome.response));
      return;
    }
    const bool unanswered = !outcome.response && !outcome.started && outcome.response.error() != CallError::kTimeout;
    if (!unanswered) {
      endpoint.breaker.RecordFailure(threshold);
      const bool retry = !outcome.response || Retryable(outcome.response->status);
      if (!retry || call.impl->options.max_attempts <= 1) {
        call.done(std::move(outcome.response));
        return;
      }
      call.attempts_used = 1;
      call.tried = {endpoint.id};
    }
    call.first = nullptr;
    asio::co_spawn(loop, Run(loop, std::move(call)), asio::detached);
  }

  std::optional<Pooled> TakeIdle(LoopState& state, const std::shared_ptr<Endpoint>& endpoint) {
    auto it = state.by_endpoint.find(endpoint->id);
    if (it == state.by_endpoint.end()) return std::nullopt;
    auto& idle = it->second.idle;
    const auto now = Clock::now();
    while (!idle.empty()) {
      Pooled c = std::move(idle.back());
      idle.pop_back();
      if (now - c.last_used < options.max_idle) return c;
    }
    return std::nullopt;
  }

  void PutIdle(LoopState& state, const std::shared_ptr<Endpoint>& endpoint, Pooled c) {
    auto& pool = state.by_endpoint[endpoint->id];
    if (!pool.endpoint) pool.endpoint = endpoint;
    c.last_used = Clock::now();
    pool.idle.push_back(std::move(c));
  }

  asio::awaitable<std::expected<Pooled, CallError>> Connect(asio::io_context& loop, LoopState& state,
                                                            const Endpoint& endpoint) {
    Pooled c;
    c.socket = std::make_unique<Socket>(loop);
    c.parser = std::make_unique<ResponseParser>(limits);
    DeadlineScope deadline(state, loop);
    boost::system::error_code ec;
    if (!endpoint.local_socket.empty()) {
      // The instance's Unix-domain socket, when this host has it; else TCP below.
      deadline.Set(*c.socket, options.connect_timeout);
      auto [local_ec] =
          co_await c.socket->async_connect(Stream::endpoint(asio::local::stream_protocol::endpoint(endpoint.local_socket)),
                                           kUseTuple);
      if (!local_ec && !deadline.expired()) {
        c.socket->non_blocking(true, ec);
        if (!ec) co_return c;
      }
      c.socket = std::make_unique<Socket>(loop);
    }
    deadline.Set(*c.socket, options.connect_timeout);
    std::uint16_t port = 0;
    std::from_chars(endpoint.port.data(), endpoint.port.data() + endpoint.port.size(), port);
    const asio::ip::address address = asio::ip::make_address(endpoint.host, ec);
    if (!ec) {
      auto [connect_ec] = co_await c.socket->async_connect(Stream::endpoint(tcp::endpoint(address, port)), kUseTuple);
      ec = connect_ec;
    } else {
      // A name (compose, Swarm): resolved per connection, which pooling makes rare.
      tcp::resolver resolver(loop);
      auto [resolve_ec, results] = co_await resolver.async_resolve(endpoint.host, endpoint.port, kUseTuple);
      if (resolve_ec) co_return std::unexpected(deadline.expired() ? CallError::kTimeout : CallError::kUnavailable);
      for (const auto& entry : results) {
        c.socket->close(ec);
        deadline.Set(*c.socket, options.connect_timeout);
        auto [connect_ec] = co_await c.socket->async_connect(Stream::endpoint(entry.endpoint()), kUseTuple);
        ec = connect_ec;
        if (!ec || deadline.expired()) break;
      }
    }
    if (ec) co_return std::unexpected(deadline.expired() ? CallError::kTimeout : CallError::kUnavailable);
    c.socket->set_option(tcp::no_delay(true), ec);
    c.socket->non_blocking(true, ec);
    if (ec) co_return std::unexpected(CallError::kUnavailable);
    co_return c;
  }

  /// One attempt on `endpoint`. A pooled connection the server has meanwhile closed is replaced
  /// once, transparently: the request never reached the application.
  asio::awaitable<AttemptResult> Attempt(asio::io_context& loop, LoopState& state, std::shared_ptr<Endpoint> endpoint,
                                         const Call& call) {
    AttemptResult result;
    const std::size_t max_buffered = limits.max_buffered_bytes();
    for (int round = 0;; ++round) {
      std::optional<Pooled> c;
      if (round == 0) c = TakeIdle(state, endpoint);
      const bool reused = c.has_value();
      if (!c) {
        auto fresh = co_await Connect(loop, state, *endpoint);
        if (!fresh) {
          result.response = std::unexpected(fresh.error());
          co_return result;
        }
        c = std::move(*fresh);
      }
      result.sent = true;
      Socket& socket = *c->socket;
      DeadlineScope deadline(state, loop);
      deadline.Set(socket, std::chrono::milliseconds(settings->request_timeout_ms.load(std::memory_order_relaxed)));
      c->wire.clear();
      AppendRequest(c->wire, *call.request, endpoint->host_port, call.request_id, call.traceparent);

      // Written at once when the socket takes it (the usual case), else by waiting.
      boost::system::error_code write_ec;
      const std::size_t written = socket.write_some(asio::buffer(c->wire), write_ec);
      if (write_ec == asio::error::would_block || (!write_ec && written < c->wire.size())) {
        const std::size_t from = write_ec ? 0 : written;
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(c->wire.data() + from, c->wire.size() - from),
                                                  kUseTuple);
        write_ec = ec;
      }
      if (deadline.expired()) {
        result.response = std::unexpected(CallError::kTimeout);
        co_return result;
      }

      // Read the answer. After a clean write it cannot be there before its readiness edge: wait for that
      // first (no read that finds nothing). A broken write is not yet a failure: the server may have
      // answered and closed while the request was still going out (a 413 for what the caller sent), so
      // read what is there.
      ResponseParser& parser = *c->parser;
      parser.Reset();
      bool wait_first = !write_ec;
      bool got_some = false;
      std::expected<void, CallError> read = {};
      while (true) {
        const ReadState state_now = FeedBuffered(parser, c->buffer, max_buffered);
        if (state_now == ReadState::kFailed) {
          read = std::unexpected(CallError::kBadResponse);
          break;
        }
        if (state_now == ReadState::kDone) break;
        if (!wait_first) {
          const std::size_t room = std::min<std::size_t>(16 * 1024, max_buffered - c->buffer.size());
          boost::system::error_code ec;
          const std::size_t n = socket.read_some(c->buffer.prepare(room), ec);
          if (!ec) {
            got_some = true;
            c->buffer.commit(n);
            wait_first = n < room;  // drained, and nothing yielded since: its next edge is still to come
            continue;
          }
          if (ec == asio::error::eof) {
            // Closed before a whole response. (Beast would call an empty stream a complete message.)
            if (!parser.got_some()) {
              read = std::unexpected(CallError::kUnavailable);
              break;
            }
            parser.FeedEof();
            if (!parser.done()) read = std::unexpected(CallError::kUnavailable);
            break;
          }
          if (ec != asio::error::would_block) {
            read = std::unexpected(deadline.expired() ? CallError::kTimeout : CallError::kUnavailable);
            break;
          }
        }
        wait_first = false;
        auto [ec] = co_await socket.async_wait(Socket::wait_read, kUseTuple);
        if (ec || deadline.expired()) {
          read = std::unexpected(deadline.expired() ? CallError::kTimeout : CallError::kUnavailable);
          break;
        }
      }
      if (!read) {
        if (reused && !got_some && read.error() != CallError::kTimeout) continue;
        result.response = std::unexpected(write_ec ? CallError::kUnavailable : read.error());
        co_return result;
      }
      const bool keep_alive = parser.keep_alive() && !write_ec;
      result.response = EndToEnd(std::move(parser.message()));
      if (keep_alive && !endpoint->removed.load(std::memory_order_relaxed)) PutIdle(state, endpoint, std::move(*c));
      co_return result;
    }
  }

  /// Runs one call and answers it exactly once, whatever happens (an exception escaping a detached
  /// coroutine would end the server thread).
  static asio::awaitable<void> Run(asio::io_context& loop, Call call) {
    std::expected<Response, CallError> result = std::unexpected(CallError::kUnavailable);
    try {
      result = co_await Exchange(loop, call);
    } catch (const std::exception& e) {
      log::Write(log::Level::kError, "call failed", {{"dependency", call.impl->options.name}, {"error", e.what()}});
    }
    call.done(std::move(result));
  }

  static asio::awaitable<std::expected<Response, CallError>> Exchange(asio::io_context& loop, const Call& call) {
    Impl& impl = *call.impl;
    LoopState& state = Loop();
    const std::shared_ptr<const EndpointSet> set = impl.source->Current();
    const int attempts = call.safe_to_repeat ? std::max(1, impl.options.max_attempts) : 1;
    const int threshold = impl.settings->breaker_failures.load(std::memory_order_relaxed);
    thread_local std::minstd_rand jitter(std::random_device{}());
    std::vector<std::uint64_t> tried = call.tried;
    std::expected<Response, CallError> result = std::unexpected(CallError::kUnavailable);
    int attempt = 1 + call.attempts_used;
    if (call.attempts_used > 0 && attempt <= attempts) {
      // Its pipelined attempt failed: the backoff before a second attempt, as below.
      const auto base = impl.options.backoff;
      asio::steady_timer pause(loop, base / 2 + base * (jitter() % 1000) / 1000);
      co_await pause.async_wait(kUseTuple);
    }
    std::shared_ptr<Endpoint> preset = call.first;
    while (attempt <= attempts) {
      bool refused = false;
      std::shared_ptr<Endpoint> endpoint =
          preset ? std::exchange(preset, nullptr) : PickEndpoint(*set, impl.round_robin, tried, refused);
      if (!endpoint) {
        if (tried.empty()) result = std::unexpected(refused ? CallError::kCircuitOpen : CallError::kUnavailable);
        break;
      }
      tried.push_back(endpoint->id);
      AttemptResult r = co_await impl.Attempt(loop, state, endpoint, call);
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
  Impl::Call call{.impl = impl_, .request = &request, .safe_to_repeat = safe_to_repeat};
  // The handler's request id and trace context, captured now: the call goes on after its stack is gone.
  if (const RequestContext* ctx = CurrentRequest()) call.request_id = ctx->request_id;
  call.traceparent = OutgoingTraceparent();
  call.done = std::move(done);
  if (options_.pipeline_gets && safe_to_repeat && request.method == "GET" && request.body.empty() &&
      impl_->TryPipeline(*loop, call)) {
    return;
  }
  // Runs at once up to its first wait (the request is written before this returns).
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
