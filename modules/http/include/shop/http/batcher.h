#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
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
/// With a `linger`, a batch smaller than the thread's recent batches waits for more calls, up to
/// `linger` after its pass ended, and goes as soon as it is as large as they were (a timer: the loop
/// sleeps or serves meanwhile). The technique and its trade, a little latency for much larger groups,
/// are those of PostgreSQL's commit_delay/commit_siblings and MySQL's
/// binlog_group_commit_sync_delay/_no_delay_count. "Recent" is the largest batch since, less one per
/// batch after it: a lone caller (recent size 1) never waits, and after load drops each batch waits
/// at most `linger` while the size it waits for comes down.
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
  /// `flush` gets each batch, in arrival order; it must answer every call in it. `linger`: see above
  /// (zero: a batch goes at the end of its pass, always).
  explicit Batcher(std::function<void(std::vector<Call>&)> flush,
                   std::chrono::microseconds linger = std::chrono::microseconds::zero())
      : flush_(std::move(flush)), linger_(linger) {}

  /// Queues `call` for this thread's next batch.
  void Add(Call call) {
    std::unique_lock lock(mutex_);
    Pending& pending = pending_[std::this_thread::get_id()];
    pending.calls.push_back(std::move(call));
    const std::uint64_t batch = pending.batch;
    if (pending.calls.size() == 1) {
      pending.first = CurrentContext();
      lock.unlock();
      Defer([self = this->shared_from_this(), batch] { self->Flush(batch, Reason::kPassEnded); });
    } else if (pending.lingering && pending.calls.size() == pending.recent) {
      // Large enough: goes at the end of this pass, with whatever else the pass brings.
      lock.unlock();
      Defer([self = this->shared_from_this(), batch] { self->Flush(batch, Reason::kLargeEnough); });
    }
  }

 private:
  enum class Reason { kPassEnded, kLargeEnough, kLingered };

  struct Pending {
    std::vector<Call> calls;
    std::optional<RequestContext> first;  ///< the first call's request, if it came from one
    std::uint64_t batch = 0;              ///< which batch `calls` is; a flush of an earlier one does nothing
    bool lingering = false;               ///< waiting, past its pass, for more calls
    std::size_t recent = 1;               ///< the size of recent batches (see the class comment)
  };

  /// A copy of the current request's context. Its trace is started first when it has none yet, so that
  /// the request's own log line and the calls the flush makes share one trace id.
  static std::optional<RequestContext> CurrentContext() {
    RequestContext* current = CurrentRequest();
    if (!current) return std::nullopt;
    if (current->trace_id.empty()) current->trace_id = FastRandomHex(32);
    return *current;
  }

  void Flush(std::uint64_t which, Reason reason) {
    std::vector<Call> batch;
    std::optional<RequestContext> first;
    {
      std::unique_lock lock(mutex_);
      Pending& pending = pending_[std::this_thread::get_id()];
      if (pending.batch != which) return;  // already gone, by another of its flushes
      if (reason == Reason::kPassEnded && linger_ > std::chrono::microseconds::zero() &&
          pending.calls.size() < pending.recent) {
        pending.lingering = true;
        lock.unlock();
        DeferFor(linger_, [self = this->shared_from_this(), which] { self->Flush(which, Reason::kLingered); });
        return;
      }
      batch.swap(pending.calls);
      first.swap(pending.first);
      ++pending.batch;
      pending.lingering = false;
      pending.recent = std::max(batch.size(), pending.recent > 1 ? pending.recent - 1 : 1);
    }
    if (!first) {
      flush_(batch);
      return;
    }
    RequestScope scope(*first);
    flush_(batch);
  }

  std::function<void(std::vector<Call>&)> flush_;
  std::chrono::microseconds linger_;
  std::mutex mutex_;
  std::unordered_map<std::thread::id, Pending> pending_;
};

}  // namespace shop::http
