#pragma once

#include <cstdint>
#include <expected>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shop/core/error.h"
#include "shop/core/page.h"
#include "shop/core/principal.h"

namespace shop::products {

enum class Errc {
  kValidationFailed,     ///< input breaks a rule of the API (detail says which)
  kSkuTaken,             ///< another product has this sku
  kNotFound,             ///< no such product
  kForbidden,            ///< the caller may not do this (not an admin)
  kUnknownProduct,       ///< a reservation names a product that does not exist
  kInsufficientStock,    ///< a reservation asks for more than is in stock; nothing was taken
  kReservationReleased,  ///< this order reference was already released and cannot be reserved again
  kUnavailable,          ///< the products module could not be reached (remote implementation)
};
using Error = Failure<Errc>;

struct Product {
  std::int64_t id = 0;
  std::string sku;
  std::string name;
  std::int64_t price_cents = 0;
  std::int64_t stock = 0;
  std::string created_at;  ///< RFC 3339 UTC
};

struct NewProduct {
  std::string sku;
  std::string name;
  std::int64_t price_cents = 0;
  std::int64_t stock = 0;
};

/// Fields to change; absent ones stay as they are.
struct ProductPatch {
  std::optional<std::string> name;
  std::optional<std::int64_t> price_cents;
  std::optional<std::int64_t> stock;
};

struct ReserveLine {
  std::int64_t product_id = 0;
  std::int64_t quantity = 0;
};

/// One reserved line with the price it was reserved at.
struct ReservedLine {
  std::int64_t product_id = 0;
  std::int64_t quantity = 0;
  std::int64_t unit_price_cents = 0;
};

/// One reservation of a ReserveMany call: Reserve's arguments.
struct ReserveRequest {
  std::string order_ref;
  std::optional<std::int64_t> order_id;
  std::vector<ReserveLine> lines;
};

/// The products module: the catalogue and its stock.
class Api {
 public:
  virtual ~Api() = default;

  virtual std::expected<Product, Error> GetProduct(std::int64_t id) = 0;

  /// Products by id ascending, after `page.after`.
  virtual std::expected<Page<Product>, Error> ListProducts(const PageRequest& page) = 0;

  /// Adds a product; admins only. Names are trimmed.
  virtual std::expected<Product, Error> CreateProduct(const Principal& caller, const NewProduct& product) = 0;

  /// Changes name, price or stock; admins only. An empty patch is a validation error.
  virtual std::expected<Product, Error> UpdateProduct(const Principal& caller, std::int64_t id,
                                                      const ProductPatch& patch) = 0;

  /// Takes stock for every line at once, or for none (all or nothing), and records it under
  /// `order_ref`, for order `order_id` when given (named in the stock_changed events, and found
  /// again by the order's order_cancelled event). Idempotent: reserving an existing reference again
  /// returns the lines it holds and takes nothing more. Fails with kReservationReleased if the
  /// reference was released. Lines are returned in the order given, with current unit prices.
  virtual std::expected<std::vector<ReservedLine>, Error> Reserve(std::string_view order_ref,
                                                                  std::optional<std::int64_t> order_id,
                                                                  const std::vector<ReserveLine>& lines) = 0;
  /// Reserve for no particular order id.
  std::expected<std::vector<ReservedLine>, Error> Reserve(std::string_view order_ref,
                                                          const std::vector<ReserveLine>& lines) {
    return Reserve(order_ref, std::nullopt, lines);
  }

  /// Reserve for each request, as if called one after another in this order: each all or nothing on
  /// its own, with the same errors; one result per request, in order. An implementation may commit
  /// them together (group commit: one transaction, each request a savepoint of it), so that none is
  /// durable or visible before the whole batch is. A request that could not be tried (an outage, a
  /// database failure) gets kUnavailable, and may or may not have taken stock: release it. This
  /// default calls Reserve for each.
  virtual std::vector<std::expected<std::vector<ReservedLine>, Error>> ReserveMany(
      std::span<const ReserveRequest> requests) {
    std::vector<std::expected<std::vector<ReservedLine>, Error>> results;
    results.reserve(requests.size());
    for (const ReserveRequest& request : requests) {
      try {
        results.push_back(Reserve(request.order_ref, request.order_id, request.lines));
      } catch (const std::exception& e) {
        results.push_back(std::unexpected(Error(Errc::kUnavailable, e.what())));
      }
    }
    return results;
  }

  /// Gives back the stock held under `order_ref`, once. Idempotent; releasing an unknown reference
  /// records it as released, so a late Reserve with it takes nothing.
  virtual std::expected<void, Error> Release(std::string_view order_ref) = 0;
};

}  // namespace shop::products
