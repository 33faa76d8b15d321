#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace shop::http {

/// The request a thread is handling, so that calls it makes to other services carry its request id
/// and W3C trace context along. Set by App::Handle for the handler's duration.
struct RequestContext {
  std::string request_id;
  /// 32 lower-case hex digits: from the caller's traceparent, or made by the first outgoing call
  /// (empty while neither happened, so requests that call nobody pay nothing for tracing).
  std::string trace_id;
};

/// The calling thread's current request, or nullptr outside a request.
RequestContext* CurrentRequest();

/// Makes `context` the thread's current request until destroyed (restoring the previous one).
class RequestScope {
 public:
  explicit RequestScope(RequestContext& context);
  ~RequestScope();
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;

 private:
  RequestContext* previous_;
};

/// The trace id of a valid `traceparent` header value (`00-<32 hex>-<16 hex>-<2 hex>`), or empty.
std::string_view TraceIdFrom(std::string_view traceparent);

/// The event loop of the server I/O thread running the caller (the server's asio::io_context, type
/// erased so this header needs no Asio), or null on any other thread. Set by the server on each of
/// its threads; the asynchronous client runs its calls on it, on the server's own executor.
void* ThisThreadEventLoop();
void SetThisThreadEventLoop(void* loop);

/// Runs `task` on the calling thread once its event loop has handled the events that are ready now
/// (the rest of the server's current pass), e.g. to answer the requests of that pass together
/// (http::Batcher). On a thread no event loop drives, runs it at once, before returning.
void Defer(std::function<void()> task);
/// Installs the calling thread's way to defer a task (a server I/O thread: a post to its loop).
void SetThisThreadDeferral(std::function<void(std::function<void()>)> defer);
/// Runs `task` on the calling thread's event loop once `delay` has passed (a timer: the loop goes on
/// handling events meanwhile, and sleeps when there are none). On a thread no event loop drives, runs
/// it at once, before returning.
void DeferFor(std::chrono::microseconds delay, std::function<void()> task);
/// Installs the calling thread's way to defer a task by a delay (a server I/O thread: a timer on its loop).
void SetThisThreadTimedDeferral(std::function<void(std::chrono::microseconds, std::function<void()>)> defer);

/// `count` random lower-case hex digits from a fast per-thread generator (ids, not secrets).
std::string FastRandomHex(std::size_t count);

/// A `traceparent` for a call made now from the current request (a new span id per call); starts
/// the request's trace if it has none yet.
std::string OutgoingTraceparent();

}  // namespace shop::http
