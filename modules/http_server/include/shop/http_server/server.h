#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "shop/http/wire_parser.h"

namespace shop::http {

class App;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  ///< 0 picks a free port; see Server::port()
  int threads = 0;            ///< 0: one per core this process may use (its CPU affinity)
  /// Run the I/O threads as SCHED_BATCH (Linux): a thread woken by a request does not preempt the
  /// thread running on its core, it waits for that one to block or for the tick. Processes that share a
  /// core (a gateway and its services) then take turns in batches, one wake-up for many requests,
  /// instead of a context switch per hop per request. Off: the scheduler's default.
  bool batch_scheduling = false;
  /// 0: handlers run on the I/O threads (fastest when they never block). N > 0: handlers run on a
  /// pool of N threads, so a handler waiting on another service never stalls other connections.
  int handler_threads = 0;
  /// Runs once on every thread that runs handlers, before it takes its first request: each handler-pool
  /// thread while the Server is constructed (so before it is announced anywhere), each I/O thread as Run()
  /// starts it. For per-thread resources that are slow to make under load, e.g. each thread's database
  /// session (a PostgreSQL connection costs ~50 ms of server CPU here; 32 handler threads opening theirs
  /// on the first burst of requests made those requests time out at the gateway). An exception is logged
  /// and the thread serves anyway (whatever it failed to make is made on first use).
  std::function<void()> thread_start;
  /// Also serve on this Unix-domain socket (a path; empty: no): callers on the same host reach the
  /// process without TCP/IP (a split service's callers: see http::Endpoint::local_socket). The file is
  /// replaced when it exists and removed when the server is destroyed.
  std::string local_socket;
  WireLimits wire;  ///< what one request may cost: header section, body, chunked framing
  std::chrono::seconds idle_timeout{60};     ///< a keep-alive connection with no request
  std::chrono::seconds request_timeout{15};  ///< to receive a whole request once it has started
  std::chrono::seconds shutdown_grace{10};   ///< how long in-flight requests may take after a stop
  /// After an answer that closes the connection, how long the rest of the client's request is read and
  /// discarded at most, and how long each read may wait (RFC 9112 §9.6; nginx's lingering_time/_timeout).
  std::chrono::seconds linger_time{5};
  std::chrono::seconds linger_timeout{2};
};

/// HTTP/1.1 with keep-alive over Boost.Beast: one io_context per thread (no shared scheduler
/// lock), connections handed round-robin to the threads, each connection a coroutine.
class Server {
 public:
  /// Binds the listening socket; throws std::system_error (e.g. address in use) if it cannot.
  Server(ServerOptions options, App& app);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const;

  /// Serves until SIGINT, SIGTERM or Stop(). Then stops accepting, lets in-flight requests finish
  /// (up to shutdown_grace), closes every connection and returns.
  void Run();
  /// Asks Run() to stop as a signal would. Thread-safe.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shop::http
