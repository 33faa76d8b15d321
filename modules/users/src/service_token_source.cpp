// ServiceTokenSource: this service's service tokens, fetched from users and renewed before expiry.
#include <utility>

#include "shop/users/remote.h"

namespace shop::users {

ServiceTokenSource::ServiceTokenSource(Api& users, ClientCredentials credentials, Options options)
    : users_(users), credentials_(std::move(credentials)), options_(std::move(options)) {}

std::expected<std::string, std::string> ServiceTokenSource::Token() {
  std::shared_ptr<const Cached> cached = current_.load(std::memory_order_acquire);
  const Clock::time_point now = options_.now();
  if (cached && now < cached->renew_at) return cached->token;

  if (cached && now < cached->expires_at) {
    // Due for renewal but still valid: one thread renews, the others go on with the current token.
    std::unique_lock lock(fetch_mu_, std::try_to_lock);
    if (!lock) return cached->token;
    if (auto latest = current_.load(std::memory_order_acquire); latest != cached && latest) return latest->token;
    if (now < next_attempt_) return cached->token;
    auto fresh = Fetch();
    return fresh ? (*fresh)->token : cached->token;
  }

  // Nothing usable: wait for the one fetch, or make it.
  std::lock_guard lock(fetch_mu_);
  if (auto latest = current_.load(std::memory_order_acquire); latest && options_.now() < latest->expires_at) {
    return latest->token;
  }
  auto fresh = Fetch();
  if (!fresh) return std::unexpected(std::move(fresh.error()));
  return (*fresh)->token;
}

void ServiceTokenSource::Refused(std::string_view token) {
  std::shared_ptr<const Cached> cached = current_.load(std::memory_order_acquire);
  // Only the token that was refused: a newer one fetched meanwhile stays.
  if (cached && cached->token == token) current_.compare_exchange_strong(cached, nullptr);
}

std::expected<std::shared_ptr<const ServiceTokenSource::Cached>, std::string> ServiceTokenSource::Fetch() {
  // The lifetime counts from before the request: the token cannot outlive what we assume.
  const Clock::time_point asked = options_.now();
  auto issued = users_.IssueServiceToken(credentials_);
  if (!issued) {
    next_attempt_ = options_.now() + options_.retry_after;
    return std::unexpected("no service token for " + credentials_.client_id + ": " + issued.error().detail);
  }
  const auto life = std::chrono::seconds(issued->expires_in);
  auto cached = std::make_shared<const Cached>(
      Cached{std::move(issued->token), asked + std::chrono::duration_cast<Clock::duration>(life * options_.renew_at),
             asked + life});
  current_.store(cached, std::memory_order_release);
  return cached;
}

}  // namespace shop::users
