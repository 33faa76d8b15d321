// KeySync: keeps a Verifier trusting the keys the users service publishes.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "shop/platform/log.h"
#include "shop/users/remote.h"

namespace shop::users {

namespace {

using Clock = std::chrono::steady_clock;

/// What the background thread and the verifier's refresh callback share. The callback holds it by
/// shared_ptr: a copy of the callback the verifier took before it was cleared may still run after
/// KeySync is gone, and then finds `stopping` set and touches neither `users` nor `verifier`.
struct KeySyncState {
  KeySyncState(Api& u, auth::Verifier& v, std::chrono::milliseconds retry, std::chrono::seconds min_refresh)
      : users(u), verifier(v), retry_every(retry), min_refresh_interval(min_refresh) {}

  /// Fetches and installs the keys once. `lock` holds `mu`; the fetch itself runs unlocked.
  bool Fetch(std::unique_lock<std::mutex>& lock) {
    ++fetching;
    lock.unlock();
    std::string failure;
    std::size_t count = 0;
    if (auto jwks = users.Jwks(); !jwks) {
      failure = jwks.error().detail;
    } else if (auto keys = auth::ParseJwks(*jwks); !keys) {
      failure = "unreadable JWKS: " + keys.error();
    } else if (keys->empty()) {
      failure = "the JWKS holds no Ed25519 key";
    } else {
      verifier.SetKeys(*keys);
      count = keys->size();
    }
    lock.lock();
    --fetching;
    cv.notify_all();
    if (failure.empty()) {
      have_keys = true;
      failing = false;
      log::Write(log::Level::kInfo, "token keys fetched", {{"keys", static_cast<long long>(count)}});
      return true;
    }
    // Once per run of failures, not on every retry; the next success is logged.
    if (!failing) log::Write(log::Level::kWarn, "token keys could not be fetched", {{"error", failure}});
    failing = true;
    return false;
  }

  /// The background thread: fetches until the keys are in, retrying every `retry_every`.
  void RunInitialFetch() {
    std::unique_lock lock(mu);
    while (true) {
      // Not beside a refresh under way: one fetch at a time, and its keys may be all we need.
      cv.wait(lock, [this] { return stopping || fetching == 0; });
      if (stopping || have_keys || Fetch(lock)) return;
      cv.wait_for(lock, retry_every, [this] { return stopping || have_keys; });
    }
  }

  /// The verifier met a key it does not know: fetch again, unless that was done too recently.
  void RefreshForUnknownKey() {
    std::unique_lock lock(mu);
    if (stopping) return;
    if (fetching > 0) {
      // Another fetch is under way; its keys are as new as any this one would get.
      cv.wait(lock, [this] { return stopping || fetching == 0; });
      return;
    }
    const auto now = Clock::now();
    if (last_refresh && now - *last_refresh < min_refresh_interval) return;
    last_refresh = now;
    Fetch(lock);
  }

  Api& users;
  auth::Verifier& verifier;
  const std::chrono::milliseconds retry_every;
  const std::chrono::seconds min_refresh_interval;

  std::mutex mu;
  std::condition_variable cv;  // signalled on stop and when a fetch ends
  bool stopping = false;
  bool have_keys = false;
  bool failing = false;  // the last fetch failed and that was logged
  int fetching = 0;      // fetches under way
  std::optional<Clock::time_point> last_refresh;
};

}  // namespace

struct KeySync::Impl {
  std::shared_ptr<KeySyncState> state;
  std::thread thread;
};

KeySync::KeySync(Api& users, auth::Verifier& verifier, std::chrono::milliseconds retry_every,
                 std::chrono::seconds min_refresh_interval)
    : impl_(std::make_unique<Impl>()) {
  impl_->state = std::make_shared<KeySyncState>(users, verifier, retry_every, min_refresh_interval);
  verifier.OnUnknownKey([state = impl_->state] { state->RefreshForUnknownKey(); });
  impl_->thread = std::thread([state = impl_->state] { state->RunInitialFetch(); });
}

KeySync::~KeySync() {
  KeySyncState& state = *impl_->state;
  state.verifier.OnUnknownKey({});
  {
    std::lock_guard lock(state.mu);
    state.stopping = true;
    state.cv.notify_all();
  }
  impl_->thread.join();
  // A refresh already under way uses `users` and `verifier`, which may go once we return.
  std::unique_lock lock(state.mu);
  state.cv.wait(lock, [&state] { return state.fetching == 0; });
}

}  // namespace shop::users
