#pragma once

#include <cstdint>
#include <optional>

#include "shop/events/events.h"
#include "shop/products/api.h"

/// The products module's domain events (PLATFORM.md "Events"): each type's data mapping, written once.
namespace shop::products {

inline constexpr std::string_view kProductCreated = "shop.products.product_created.v1";
inline constexpr std::string_view kProductUpdated = "shop.products.product_updated.v1";
inline constexpr std::string_view kStockChanged = "shop.products.stock_changed.v1";

/// `product_created`: data `{"product_id","sku","name","price_cents","stock"}`.
events::Event ProductCreatedEvent(const Product& product);
/// `product_updated`: data `{"product_id","name","price_cents","stock"}`, the values after the change.
events::Event ProductUpdatedEvent(const Product& product);
/// `stock_changed`: data `{"product_id","stock","order_id"}`: the stock after the change, and the
/// order it was taken for or given back from (null for an admin's change).
events::Event StockChangedEvent(std::int64_t product_id, std::int64_t stock, std::optional<std::int64_t> order_id);

}  // namespace shop::products
