#include "shop/products/events.h"

#include <boost/json.hpp>

namespace shop::products {
namespace {

events::Event Make(std::string_view type, const boost::json::object& data) {
  return events::MakeEvent("products", std::string(type), boost::json::serialize(data));
}

}  // namespace

events::Event ProductCreatedEvent(const Product& p) {
  return Make(kProductCreated, {{"product_id", p.id},
                                {"sku", p.sku},
                                {"name", p.name},
                                {"price_cents", p.price_cents},
                                {"stock", p.stock}});
}

events::Event ProductUpdatedEvent(const Product& p) {
  return Make(kProductUpdated, {{"product_id", p.id}, {"name", p.name}, {"price_cents", p.price_cents}, {"stock", p.stock}});
}

events::Event StockChangedEvent(std::int64_t product_id, std::int64_t stock, std::optional<std::int64_t> order_id) {
  boost::json::object data{{"product_id", product_id}, {"stock", stock}};
  if (order_id) {
    data.emplace("order_id", *order_id);
  } else {
    data.emplace("order_id", nullptr);
  }
  return Make(kStockChanged, data);
}

}  // namespace shop::products
