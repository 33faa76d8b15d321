#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "shop/auth/token.h"
#include "shop/http/router.h"
#include "shop/http_client/client.h"
#include "shop/users/api.h"

/// Split mode: the users module across a process boundary.
namespace shop::users {

/// users::Api over HTTP against a users service: a drop-in for the in-process implementation, with
/// the same results and errors. A call that gets no answer fails with Errc::kUnavailable.
/// GetUser presents the caller's credential as a Bearer token.
std::unique_ptr<Api> MakeHttpClient(http::ClientOptions options);

/// Serves the route other services get their service tokens from, which the gateway never exposes:
/// POST /internal/oauth/token, the OAuth 2.0 client credentials grant (RFC 6749 §4.4). The client
/// authenticates with HTTP Basic (RFC 6749 §2.3.1); the body is `grant_type=client_credentials`
/// (application/x-www-form-urlencoded, else 415). Answers 200 `{"access_token","token_type":"Bearer",
/// "expires_in"}` with `Cache-Control: no-store` (RFC 6749 §5.1); no or malformed Basic credentials,
/// or wrong ones: 401 `unauthenticated` with `WWW-Authenticate: Basic`; a bad grant: 400
/// `validation_failed`. `users` must outlive the router.
void AddInternalRoutes(http::Router& router, Api& users);

/// This service's identity towards the services it calls: service tokens obtained from users with
/// the service's client credentials (IssueServiceToken), cached and shared by every thread. A token
/// is renewed once `renew_at` of its life has passed; until it expires, a failed renewal keeps it in
/// use (retried after `retry_after`), so a short users outage goes unnoticed. Token() takes no lock
/// while the cached token is fresh. `users` must outlive it.
class ServiceTokenSource final : public auth::ServiceTokenProvider {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    double renew_at = 0.8;
    std::chrono::milliseconds retry_after{1000};
    std::function<Clock::time_point()> now = [] { return Clock::now(); };  ///< a test's clock
  };

  ServiceTokenSource(Api& users, ClientCredentials credentials, Options options);
  ServiceTokenSource(Api& users, ClientCredentials credentials)
      : ServiceTokenSource(users, std::move(credentials), {}) {}

  /// A token valid now, or why there is none (users unreachable, or the credentials refused).
  std::expected<std::string, std::string> Token() override;
  /// Forgets `token` if it is the cached one, so that the next Token() asks users again.
  void Refused(std::string_view token) override;

 private:
  struct Cached {
    std::string token;
    Clock::time_point renew_at;
    Clock::time_point expires_at;
  };
  /// Asks users for a token; called with fetch_mu_ held.
  std::expected<std::shared_ptr<const Cached>, std::string> Fetch();

  Api& users_;
  const ClientCredentials credentials_;
  const Options options_;
  std::atomic<std::shared_ptr<const Cached>> current_;
  std::mutex fetch_mu_;               // one fetch at a time
  Clock::time_point next_attempt_{};  // guarded by fetch_mu_: no renewal before, after a failed one
};

/// Keeps `verifier` trusting the keys users publishes (its JWKS), so tokens verify locally:
/// fetches them in the background until users answers (retrying with `retry_every`), and again,
/// at most once per `min_refresh_interval`, when a token names an unknown key. Once cached, users
/// being down does not stop verification. Stops when destroyed (waiting only for a fetch already
/// under way, which the client's timeouts bound). `users` and `verifier` must outlive it.
class KeySync {
 public:
  KeySync(Api& users, auth::Verifier& verifier, std::chrono::milliseconds retry_every = std::chrono::milliseconds(500),
          std::chrono::seconds min_refresh_interval = std::chrono::seconds(10));
  ~KeySync();
  KeySync(const KeySync&) = delete;
  KeySync& operator=(const KeySync&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shop::users
