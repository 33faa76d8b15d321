#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "shop/events/events.h"
#include "shop/orders/api.h"

/// The orders module's domain events (PLATFORM.md "Events"): each type's data mapping, written once,
/// and the reader other modules consume them with.
namespace shop::orders {

inline constexpr std::string_view kOrderPlaced = "shop.orders.order_placed.v1";
inline constexpr std::string_view kOrderCancelled = "shop.orders.order_cancelled.v1";

/// `order_placed`: data `{"order_id","user_id","items":[{"product_id","quantity","unit_price_cents"}],"total_cents"}`.
events::Event OrderPlacedEvent(const Order& order);
/// `order_cancelled`: data `{"order_id","user_id","items"}`, items as in order_placed.
events::Event OrderCancelledEvent(const Order& order);

/// The data of an `order_cancelled` event as a consumer needs it.
struct OrderCancelled {
  std::int64_t order_id = 0;
  std::int64_t user_id = 0;
  std::vector<OrderLine> items;
};
/// Reads an `order_cancelled` event's data, ignoring fields it does not know (a tolerant reader);
/// nullopt when a field it needs is missing or of the wrong type.
std::optional<OrderCancelled> ReadOrderCancelled(const events::Event& event);

}  // namespace shop::orders
