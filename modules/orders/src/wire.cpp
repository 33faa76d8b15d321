#include "wire.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <utility>

namespace shop::orders::wire {

std::expected<NewOrder, json::DecodeError> DecodeNewOrder(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  // A public request body: strict (API.md: unknown fields are 400).
  constexpr auto kStrict = json::ObjectReader::Strictness::kRejectUnknown;
  json::ObjectReader reader(*object, kStrict);
  NewOrder order;
  if (const boost::json::array* items = reader.Array("items")) {
    order.items.reserve(items->size());
    for (std::size_t i = 0; i < items->size(); ++i) {
      const std::string field = "items[" + std::to_string(i) + "]";
      const boost::json::object* item = json::AsObject((*items)[i]);
      if (!item) {
        reader.Reject(field, "must be an object");
        break;
      }
      json::ObjectReader line(*item, kStrict, field + ".");
      std::optional<std::int64_t> product_id = line.Int("product_id");
      std::optional<std::int64_t> quantity = line.Int("quantity");
      if (auto error = line.Finish()) return std::unexpected(std::move(*error));
      order.items.push_back({*product_id, *quantity});
    }
  }
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return order;
}

}  // namespace shop::orders::wire

namespace shop::orders {

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const OrderLine& line) {
  json = boost::json::object{
      {"product_id", line.product_id}, {"quantity", line.quantity}, {"unit_price_cents", line.unit_price_cents}};
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const Order& order) {
  json = boost::json::object{
      {"id", order.id},
      {"user_id", order.user_id},
      {"status", StatusName(order.status)},
      {"items", boost::json::value_from(order.items)},
      {"total_cents", order.total_cents},
      {"created_at", order.created_at},
  };
}

}  // namespace shop::orders
