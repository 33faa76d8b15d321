#pragma once

#include <functional>
#include <memory>
#include <mutex>
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
/// Create with std::make_shared: a pending flush holds the batcher alive.
template <class Call>
class Batcher : public std::enable_shared_from_this<Batcher<Call>> {
 public:
  /// `flush` gets each batch, in arrival order; it must answer every call in it.
  explicit Batcher(std::function<void(std::vector<Call>&)> flush) : flush_(std::move(flush)) {}

  /// Queues `call` for this thread's next batch.
  void Add(Call call) {
    std::unique_lock lock(mutex_);
    std::vector<Call>& pending = pending_[std::this_thread::get_id()];
    pending.push_back(std::move(call));
    if (pending.size() > 1) return;  // a flush is already deferred for this thread
    lock.unlock();
    Defer([self = this->shared_from_this()] { self->Flush(); });
  }

 private:
  void Flush() {
    std::vector<Call> batch;
    {
      std::lock_guard lock(mutex_);
      batch.swap(pending_[std::this_thread::get_id()]);
    }
    flush_(batch);
  }

  std::function<void(std::vector<Call>&)> flush_;
  std::mutex mutex_;
  std::unordered_map<std::thread::id, std::vector<Call>> pending_;
};

}  // namespace shop::http
