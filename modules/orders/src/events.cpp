#include "shop/orders/events.h"

#include <boost/json.hpp>

#include "shop/json/reader.h"

namespace shop::orders {
namespace {

boost::json::array Items(const std::vector<OrderLine>& items) {
  boost::json::array array;
  array.reserve(items.size());
  for (const OrderLine& line : items) {
    array.push_back(boost::json::object{
        {"product_id", line.product_id}, {"quantity", line.quantity}, {"unit_price_cents", line.unit_price_cents}});
  }
  return array;
}

events::Event Make(std::string_view type, const boost::json::object& data) {
  return events::MakeEvent("orders", std::string(type), boost::json::serialize(data));
}

}  // namespace

events::Event OrderPlacedEvent(const Order& order) {
  return Make(kOrderPlaced, {{"order_id", order.id},
                             {"user_id", order.user_id},
                             {"items", Items(order.items)},
                             {"total_cents", order.total_cents}});
}

events::Event OrderCancelledEvent(const Order& order) {
  return Make(kOrderCancelled, {{"order_id", order.id}, {"user_id", order.user_id}, {"items", Items(order.items)}});
}

std::optional<OrderCancelled> ReadOrderCancelled(const events::Event& event) {
  auto object = json::ParseObject(event.data);
  if (!object) return std::nullopt;
  // Another service's event: fields added by a newer minor version are ignored.
  constexpr auto kTolerant = json::ObjectReader::Strictness::kIgnoreUnknown;
  json::ObjectReader reader(*object, kTolerant);
  OrderCancelled cancelled;
  auto order_id = reader.Int("order_id");
  auto user_id = reader.Int("user_id");
  if (const boost::json::array* items = reader.Array("items")) {
    for (const boost::json::value& item : *items) {
      const boost::json::object* line = json::AsObject(item);
      if (!line) return std::nullopt;
      json::ObjectReader fields(*line, kTolerant);
      auto product_id = fields.Int("product_id");
      auto quantity = fields.Int("quantity");
      auto unit_price_cents = fields.Int("unit_price_cents");
      if (fields.Finish()) return std::nullopt;
      cancelled.items.push_back({*product_id, *quantity, *unit_price_cents});
    }
  }
  if (reader.Finish()) return std::nullopt;
  cancelled.order_id = *order_id;
  cancelled.user_id = *user_id;
  return cancelled;
}

}  // namespace shop::orders
