#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shop/http/request_context.h"

namespace shop::http {

/// Gathers the calls that arrive during one pass of the calling thread's event loop and hands them
/// to `flush` together once the pass has handled what was ready (http::Defer): under load, the
/// requests of every connection that sent one meanwhile make one batch, so that work with a fixed
/// cost per batch (a database commit: group commit) is paid once for them all. Idle, a call is
/// flushed at the end of its own pass, with no added wait. Batches are per thread, so `flush` runs,
/// and answers, on the thread the calls came from. Where no event loop drives the thread (a handler
/// pool, a test), each call is flushed at once as a batch of one.
///
/// `flush` runs off the handlers' stacks, where no request is current: it runs as the batch's first call's
/// request (http::RequestScope on a copy of that request's context, taken by Add), so the calls to other
/// services it makes carry that request's X-Request-Id and trace. A batch of several requests makes one
/// call for them all, which can carry one id: the first's (each request's own line keeps its own id).
///
/// Create with std::make_shared: a pending flush holds the batcher alive.
template <class Call>
class Batcher : public std::enable_shared_from_this<Batcher<Call>> {
 public:
  /// `flush` gets each batch, in arrival order; it must answer every call in it.
  explicit Batcher(std::function<void(std::vector<Call>&)> flush) : flush_(std::move(flush)) {}

  /// Queues `call` for this thread's next batch.
  void Add(Call call) {
    std::unique_lock lock(mutex_);
    Pending& pending = pending_[std::this_thread::get_id()];
    pending.calls.push_back(std::move(call));
    if (pending.calls.size() > 1) return;  // a flush is already deferred for this thread
    pending.first = CurrentContext();
    lock.unlock();
    Defer([self = this->shared_from_this()] { self->Flush(); });
  }

 private:
  struct Pending {
    std::vector<Call> calls;
    std::optional<RequestContext> first;  ///< the first call's request, if it came from one
  };

  /// A copy of the current request's context. Its trace is started first when it has none yet, so that
  /// the request's own log line and the calls the flush makes share one trace id.
  static std::optional<RequestContext> CurrentContext() {
    RequestContext* current = CurrentRequest();
    if (!current) return std::nullopt;
    if (current->trace_id.empty()) current->trace_id = FastRandomHex(32);
    return *current;
  }

  void Flush() {
    std::vector<Call> batch;
    std::optional<RequestContext> first;
    {
      std::lock_guard lock(mutex_);
      Pending& pending = pending_[std::this_thread::get_id()];
      batch.swap(pending.calls);
      first.swap(pending.first);
    }
    if (!first) {
      flush_(batch);
      return;
    }
    RequestScope scope(*first);
    flush_(batch);
  }

  std::function<void(std::vector<Call>&)> flush_;
  std::mutex mutex_;
  std::unordered_map<std::thread::id, Pending> pending_;
};

}  // namespace shop::http
