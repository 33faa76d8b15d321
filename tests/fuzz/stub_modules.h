#pragma once

// In-memory stand-ins for the three modules, so that the harnesses can mount the real HTTP adapters
// (users::AddRoutes, products::AddRoutes, orders::AddRoutes) on an App, as the monolith does, without
// a database. Each answers at once, plausibly, and never with a 5xx: any 5xx a harness sees comes
// from the HTTP layer itself.

#include <string>
#include <utility>
#include <vector>

#include "shop/auth/token.h"
#include "shop/core/principal.h"
#include "shop/core/time.h"
#include "shop/orders/api.h"
#include "shop/products/api.h"
#include "shop/users/api.h"

namespace shop::fuzz {

inline constexpr const char* kCreatedAt = "2024-01-01T00:00:00Z";

class StubUsers final : public users::Api {
 public:
  explicit StubUsers(std::string jwks) : jwks_(std::move(jwks)) {}

  std::expected<users::User, users::Error> Register(const users::NewUser& user) override {
    if (user.email.empty()) return std::unexpected(users::Error(users::Errc::kValidationFailed, "email: is empty"));
    if (user.email == "taken@example.com") return std::unexpected(users::Error(users::Errc::kEmailTaken));
    return users::User{7, user.email, user.name, Role::kCustomer, kCreatedAt};
  }
  std::expected<users::AccessToken, users::Error> IssueToken(std::string_view, std::string_view password) override {
    if (password != "correct-horse") return std::unexpected(users::Error(users::Errc::kInvalidCredentials));
    return users::AccessToken{"a-token", 3600};
  }
  std::expected<users::AccessToken, users::Error> IssueServiceToken(const users::ClientCredentials&) override {
    return std::unexpected(users::Error(users::Errc::kUnauthenticated));
  }
  std::expected<users::User, users::Error> GetUser(const Principal& caller, std::int64_t id) override {
    if (!caller.MayAccess(id)) return std::unexpected(users::Error(users::Errc::kNotFound, "no such user"));
    return users::User{id, "ann@example.com", "Ann", caller.user_id == id ? caller.role : Role::kCustomer, kCreatedAt};
  }
  std::expected<std::string, users::Error> Jwks() override { return jwks_; }

 private:
  std::string jwks_;
};

class StubProducts final : public products::Api {
 public:
  std::expected<products::Product, products::Error> GetProduct(std::int64_t id) override {
    if (id > 1000) return std::unexpected(products::Error(products::Errc::kNotFound, "no such product"));
    return products::Product{id, "mug-1", "Mug", 1200, 10, kCreatedAt};
  }
  std::expected<Page<products::Product>, products::Error> ListProducts(const PageRequest& page) override {
    Page<products::Product> result;
    const std::int64_t first = page.after.value_or(0) + 1;
    for (std::int64_t id = first; id < first + std::min(page.limit, 3); ++id) {
      result.items.push_back({id, "sku-" + std::to_string(id), "Product", 100, 1, kCreatedAt});
    }
    result.next_after = first + 2;
    return result;
  }
  std::expected<products::Product, products::Error> CreateProduct(const Principal& caller,
                                                                  const products::NewProduct& p) override {
    if (!caller.IsAdmin()) return std::unexpected(products::Error(products::Errc::kForbidden, "admins only"));
    if (p.sku == "taken") return std::unexpected(products::Error(products::Errc::kSkuTaken));
    return products::Product{1, p.sku, p.name, p.price_cents, p.stock, kCreatedAt};
  }
  std::expected<products::Product, products::Error> UpdateProduct(const Principal& caller, std::int64_t id,
                                                                  const products::ProductPatch& patch) override {
    if (!caller.IsAdmin()) return std::unexpected(products::Error(products::Errc::kForbidden, "admins only"));
    if (!patch.name && !patch.price_cents && !patch.stock) {
      return std::unexpected(products::Error(products::Errc::kValidationFailed, "nothing to change"));
    }
    if (id <= 0 || id > 1000) return std::unexpected(products::Error(products::Errc::kNotFound));
    return products::Product{
        id,        "mug-1", patch.name.value_or("Mug"), patch.price_cents.value_or(1200), patch.stock.value_or(10),
        kCreatedAt};
  }
  using products::Api::Reserve;
  std::expected<std::vector<products::ReservedLine>, products::Error> Reserve(
      std::string_view, std::optional<std::int64_t>, const std::vector<products::ReserveLine>&) override {
    return std::unexpected(products::Error(products::Errc::kInsufficientStock));
  }
  std::expected<void, products::Error> Release(std::string_view) override { return {}; }
};

class StubOrders final : public orders::Api {
 public:
  std::expected<orders::Order, orders::Error> PlaceOrder(const Principal& caller,
                                                         const orders::NewOrder& order) override {
    if (order.items.empty()) return std::unexpected(orders::Error(orders::Errc::kValidationFailed, "items: is empty"));
    orders::Order placed{1, caller.user_id, orders::Status::kConfirmed, {}, 0, kCreatedAt};
    for (const auto& line : order.items) {
      if (line.product_id > 1000) return std::unexpected(orders::Error(orders::Errc::kUnknownProduct));
      placed.items.push_back({line.product_id, line.quantity, 100});
    }
    return placed;
  }
  std::expected<Page<orders::Order>, orders::Error> ListOrders(const Principal& caller, const PageRequest&) override {
    Page<orders::Order> page;
    page.items.push_back({1, caller.user_id, orders::Status::kConfirmed, {{1, 2, 100}}, 200, kCreatedAt});
    return page;
  }
  std::expected<orders::Order, orders::Error> GetOrder(const Principal& caller, std::int64_t id) override {
    if (id > 1000) return std::unexpected(orders::Error(orders::Errc::kNotFound));
    return orders::Order{id, caller.user_id, orders::Status::kConfirmed, {{1, 2, 100}}, 200, kCreatedAt};
  }
  std::expected<orders::Order, orders::Error> CancelOrder(const Principal& caller, std::int64_t id) override {
    if (id > 1000) return std::unexpected(orders::Error(orders::Errc::kNotFound));
    return orders::Order{id, caller.user_id, orders::Status::kCancelled, {{1, 2, 100}}, 200, kCreatedAt};
  }
};

/// A signing key with its verifier, and tokens it signed lately (valid for a day from signing).
class Tokens {
 public:
  Tokens() : key_(auth::SigningKey::Generate()) {
    verifier_.SetKeys({key_.public_key()});
    Refresh();
  }
  /// Signs new tokens when the current ones are more than an hour old (long runs).
  void Refresh() {
    const std::int64_t now = UnixNow();
    if (now - signed_at_ < 3600) return;
    signed_at_ = now;
    user_ = key_.Sign({Principal{42, Role::kCustomer, {}}, now, now + auth::kMaxUserTokenLifetime});
    admin_ = key_.Sign({Principal{1, Role::kAdmin, {}}, now, now + auth::kMaxUserTokenLifetime});
  }
  const auth::SigningKey& key() const { return key_; }
  const auth::Verifier& verifier() const { return verifier_; }
  const std::string& user() const { return user_; }
  const std::string& admin() const { return admin_; }

 private:
  auth::SigningKey key_;
  auth::Verifier verifier_;
  std::int64_t signed_at_ = 0;
  std::string user_;
  std::string admin_;
};

/// Replaces every `from` in `text` with `to`.
inline void ReplaceAll(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace shop::fuzz
