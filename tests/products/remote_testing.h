#pragma once

// Split builds only: the products module as real processes. A shop-users process (one per test
// executable) publishes the token keys, and each test starts its own shop-products over a fresh
// database, as the deployment runs them.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "service_process.h"
#include "shop/auth/token.h"
#include "shop/core/principal.h"
#include "shop/core/time.h"
#include "temp_dir.h"

namespace shop::products::testing {

/// The shop-users process every products process of this executable gets its token keys from,
/// started on first use. It signs with a key this process holds too, so tests mint tokens for
/// anyone without going through the users API.
class UsersProcess {
 public:
  static UsersProcess& Shared() {
    static UsersProcess users;
    return users;
  }

  std::string url() const { return process_.url(); }

  /// `who` with a credential: a token for them, signed with the users service's key.
  Principal SignedIn(Principal who) const {
    const std::int64_t now = UnixNow();
    who.credential = key_.Sign(auth::Claims{who, now - 5, now + 3600});
    return who;
  }

  /// A service token for `service`, as users issues them to registered clients.
  std::string ServiceToken(const std::string& service, std::int64_t lifetime = 300) const {
    const std::int64_t now = UnixNow();
    return key_.SignService({service, now - 5, now - 5 + lifetime});
  }

 private:
  UsersProcess()
      : key_(auth::SigningKey::LoadOrCreate(dir_ / "signing-key.pem")),
        process_({.binary = shop::testing::ServiceProcess::BinDir() / "shop-users",
                  .args = {"--port", "{port}", "--data-dir", (dir_ / "data").string(), "--signing-key",
                           (dir_ / "signing-key.pem").string()},
                  .log_file = dir_ / "users.log"}) {
    process_.Start();
  }

  shop::testing::TempDir dir_;
  auth::SigningKey key_;
  shop::testing::ServiceProcess process_;
};

/// This test process as a calling service (by default "orders", the one products allows): service
/// tokens signed with the shared users process's key, as users would issue them. Counts refusals.
class SignedServiceIdentity final : public auth::ServiceTokenProvider {
 public:
  explicit SignedServiceIdentity(std::string service = "orders") : service_(std::move(service)) {}

  std::expected<std::string, std::string> Token() override { return UsersProcess::Shared().ServiceToken(service_); }
  void Refused(std::string_view) override { ++refusals_; }
  int refusals() const { return refusals_; }

 private:
  std::string service_;
  std::atomic<int> refusals_{0};
};

/// A shop-products process over its own fresh database, trusting the shared users process's keys.
/// Started when constructed; stop and restart it through process().
class ProductsProcess {
 public:
  ProductsProcess()
      : process_({.binary = shop::testing::ServiceProcess::BinDir() / "shop-products",
                  .args = {"--port", "{port}", "--data-dir", (dir_ / "data").string(), "--users-url",
                           UsersProcess::Shared().url()},
                  .log_file = dir_ / "products.log"}) {
    process_.Start();
  }

  shop::testing::ServiceProcess& process() { return process_; }
  std::string url() const { return process_.url(); }

 private:
  shop::testing::TempDir dir_;
  shop::testing::ServiceProcess process_;
};

}  // namespace shop::products::testing
