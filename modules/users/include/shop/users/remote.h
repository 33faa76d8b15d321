#pragma once

#include <chrono>
#include <memory>

#include "shop/auth/token.h"
#include "shop/http_client/client.h"
#include "shop/users/api.h"

/// Split mode: the users module across a process boundary.
namespace shop::users {

/// users::Api over HTTP against a users service: a drop-in for the in-process implementation, with
/// the same results and errors. A call that gets no answer fails with Errc::kUnavailable.
/// GetUser presents the caller's credential as a Bearer token.
std::unique_ptr<Api> MakeHttpClient(http::ClientOptions options);

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
