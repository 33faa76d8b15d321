#pragma once

// Split builds only: the products module as real processes. A shop-users process (one per test
// executable) publishes the token keys, and each test starts its own shop-products over a fresh
// database, as the deployment runs them.

#include <chrono>
#include <cstdint>
#include <string>

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
