#include "wire.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <utility>

#include "shop/core/text.h"

namespace shop::products::wire {
namespace {

using json::DecodeError;
using json::ObjectReader;
// Public request bodies (POST and PATCH /products) are read strictly, as API.md asks. Everything else
// here is read by another service of this product: answers (products, pages, reserved lines, releases)
// by the HTTP client, and the internal requests (/internal/reservations, /internal/releases) by this
// service from orders. Those are tolerant, so a newer minor version on either side may add a field and
// be deployed before, or after, the other.
constexpr auto kStrict = ObjectReader::Strictness::kRejectUnknown;
constexpr auto kTolerant = ObjectReader::Strictness::kIgnoreUnknown;

constexpr std::size_t kProductJsonOverhead = 96;  // keys, punctuation, numbers and the timestamp

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  text::AppendJsonEscaped(out, text);
  out += '"';
}

/// The one place a Product becomes JSON. Written by hand, unlike every other value of the three modules
/// (tag_invoke and boost::json::value_from), because it is the hot path: GET /products/{id} and each item
/// of GET /products. Measured with bench/micro/products_bench.cpp (InProcess/AppHandle, GET /products/{id}
/// through http::App::Handle, Release, 2 shared cores, CPU time, medians of 5 runs, 3 rounds): 1.2-1.5 us
/// per request with this encoder, 1.5-1.9 us with boost::json::serialize(boost::json::value_from(product)),
/// about a fifth of the request. The two encoders alone (a one-off benchmark): 0.18 us against 0.67 us.
void AppendProduct(std::string& out, const Product& product) {
  out += R"({"id":)";
  out += std::to_string(product.id);
  out += R"(,"sku":)";
  AppendJsonString(out, product.sku);
  out += R"(,"name":)";
  AppendJsonString(out, product.name);
  out += R"(,"price_cents":)";
  out += std::to_string(product.price_cents);
  out += R"(,"stock":)";
  out += std::to_string(product.stock);
  out += R"(,"created_at":)";
  AppendJsonString(out, product.created_at);
  out += '}';
}

/// A request field JSON cannot carry (not UTF-8) fails as the service would fail it.
std::optional<Error> NotUtf8(std::string_view field, std::string_view value) {
  if (text::DecodeUtf8(value)) return std::nullopt;
  return Error(Errc::kValidationFailed, std::string(field) + ": must be valid UTF-8");
}

std::unexpected<DecodeError> Invalid(std::string detail) {
  return std::unexpected(DecodeError{DecodeError::Kind::kInvalid, std::move(detail)});
}

/// Every element of `array` (the value of `key`) as an object read by `read(object, prefix)`.
template <class T, class Read>
std::expected<std::vector<T>, DecodeError> Elements(const boost::json::array& array, std::string_view key,
                                                    Read&& read) {
  std::vector<T> out;
  out.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    std::string element = std::string(key) + "[" + std::to_string(i) + "]";
    const boost::json::object* object = json::AsObject(array[i]);
    if (!object) return Invalid(element + ": must be an object");
    std::expected<T, DecodeError> value = read(*object, element + ".");
    if (!value) return std::unexpected(std::move(value.error()));
    out.push_back(std::move(*value));
  }
  return out;
}

std::expected<Product, DecodeError> ProductFrom(const boost::json::object& object, std::string prefix) {
  ObjectReader reader(object, kTolerant, std::move(prefix));
  auto id = reader.Int("id");
  auto sku = reader.String("sku");
  auto name = reader.String("name");
  auto price_cents = reader.Int("price_cents");
  auto stock = reader.Int("stock");
  auto created_at = reader.String("created_at");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return Product{.id = *id,
                 .sku = std::move(*sku),
                 .name = std::move(*name),
                 .price_cents = *price_cents,
                 .stock = *stock,
                 .created_at = std::move(*created_at)};
}

std::expected<ReserveLine, DecodeError> ReserveLineFrom(const boost::json::object& object, std::string prefix) {
  ObjectReader reader(object, kTolerant, std::move(prefix));
  auto product_id = reader.Int("product_id");
  auto quantity = reader.Int("quantity");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return ReserveLine{*product_id, *quantity};
}

std::expected<ReservedLine, DecodeError> ReservedLineFrom(const boost::json::object& object, std::string prefix) {
  ObjectReader reader(object, kTolerant, std::move(prefix));
  auto product_id = reader.Int("product_id");
  auto quantity = reader.Int("quantity");
  auto unit_price_cents = reader.Int("unit_price_cents");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return ReservedLine{*product_id, *quantity, *unit_price_cents};
}

}  // namespace

std::string EncodeProduct(const Product& product) {
  std::string body;
  body.reserve(kProductJsonOverhead + product.sku.size() + product.name.size());
  AppendProduct(body, product);
  return body;
}

std::expected<Product, DecodeError> DecodeProduct(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  return ProductFrom(*object, {});
}

std::string EncodePage(const Page<Product>& page) {
  std::string body;
  body.reserve(32 + page.items.size() * (kProductJsonOverhead + 64));
  body += R"({"items":[)";
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    if (i != 0) body += ',';
    AppendProduct(body, page.items[i]);
  }
  body += R"(],"next_after":)";
  body += page.next_after ? std::to_string(*page.next_after) : "null";
  body += '}';
  return body;
}

std::expected<Page<Product>, DecodeError> DecodePage(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  ObjectReader reader(*object, kTolerant);
  const boost::json::array* items = reader.Array("items");
  std::optional<std::int64_t> next_after = reader.NullableInt("next_after");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  auto products = Elements<Product>(*items, "items", ProductFrom);
  if (!products) return std::unexpected(std::move(products.error()));
  return Page<Product>{std::move(*products), next_after};
}

std::expected<std::string, Error> EncodeNewProduct(const NewProduct& product) {
  if (auto invalid = NotUtf8("sku", product.sku)) return std::unexpected(std::move(*invalid));
  if (auto invalid = NotUtf8("name", product.name)) return std::unexpected(std::move(*invalid));
  return boost::json::serialize(boost::json::value_from(product));
}

std::expected<NewProduct, DecodeError> DecodeNewProduct(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  ObjectReader reader(*object, kStrict);
  auto sku = reader.String("sku");
  auto name = reader.String("name");
  auto price_cents = reader.Int("price_cents");
  auto stock = reader.Int("stock");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return NewProduct{std::move(*sku), std::move(*name), *price_cents, *stock};
}

std::expected<std::string, Error> EncodePatch(const ProductPatch& patch) {
  if (patch.name) {
    if (auto invalid = NotUtf8("name", *patch.name)) return std::unexpected(std::move(*invalid));
  }
  return boost::json::serialize(boost::json::value_from(patch));
}

std::expected<ProductPatch, DecodeError> DecodePatch(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  ObjectReader reader(*object, kStrict);
  ProductPatch patch;
  patch.name = reader.String("name", false);
  patch.price_cents = reader.Int("price_cents", false);
  patch.stock = reader.Int("stock", false);
  if (object->contains("sku")) reader.Reject("sku", "cannot be changed");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return patch;
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const ReserveRequest& request) {
  boost::json::object& object = json.emplace_object();
  object.emplace("order_ref", request.order_ref);
  if (request.order_id) {
    object.emplace("order_id", *request.order_id);
  } else {
    object.emplace("order_id", nullptr);
  }
  object.emplace("lines", boost::json::value_from(request.lines));
}

std::expected<std::string, Error> EncodeReserveRequest(std::string_view order_ref,
                                                       std::optional<std::int64_t> order_id,
                                                       const std::vector<ReserveLine>& lines) {
  if (auto invalid = NotUtf8("order_ref", order_ref)) return std::unexpected(std::move(*invalid));
  return boost::json::serialize(boost::json::value_from(ReserveRequest{std::string(order_ref), order_id, lines}));
}

std::expected<ReserveRequest, DecodeError> DecodeReserveRequest(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  ObjectReader reader(*object, kTolerant);
  auto order_ref = reader.String("order_ref");
  // Optional: a caller of an earlier minor version sends none.
  auto order_id = reader.NullableInt("order_id", /*required=*/false);
  const boost::json::array* lines = reader.Array("lines");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  auto decoded = Elements<ReserveLine>(*lines, "lines", ReserveLineFrom);
  if (!decoded) return std::unexpected(std::move(decoded.error()));
  return ReserveRequest{std::move(*order_ref), order_id, std::move(*decoded)};
}

std::string EncodeReservedLines(const std::vector<ReservedLine>& lines) {
  return boost::json::serialize(boost::json::object{{"lines", boost::json::value_from(lines)}});
}

std::expected<std::vector<ReservedLine>, DecodeError> DecodeReservedLines(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  ObjectReader reader(*object, kTolerant);
  const boost::json::array* lines = reader.Array("lines");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return Elements<ReservedLine>(*lines, "lines", ReservedLineFrom);
}

std::expected<std::string, Error> EncodeReleaseRequest(std::string_view order_ref) {
  if (auto invalid = NotUtf8("order_ref", order_ref)) return std::unexpected(std::move(*invalid));
  return boost::json::serialize(boost::json::object{{"order_ref", order_ref}});
}

std::expected<std::string, DecodeError> DecodeReleaseRequest(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  ObjectReader reader(*object, kTolerant);
  auto order_ref = reader.String("order_ref");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return std::move(*order_ref);
}

std::string EncodeReleased(std::string_view order_ref) {
  return boost::json::serialize(boost::json::object{{"order_ref", order_ref}, {"released", true}});
}

std::expected<std::string, DecodeError> DecodeReleased(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  const boost::json::value* released = object->if_contains("released");
  if (!released) return Invalid("released: is required");
  if (!released->is_bool() || !released->get_bool()) return Invalid("released: must be true");
  ObjectReader reader(*object, kTolerant);
  auto order_ref = reader.String("order_ref");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return std::move(*order_ref);
}

}  // namespace shop::products::wire

namespace shop::products {

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const NewProduct& product) {
  json = boost::json::object{{"sku", product.sku},
                             {"name", product.name},
                             {"price_cents", product.price_cents},
                             {"stock", product.stock}};
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const ProductPatch& patch) {
  boost::json::object& object = json.emplace_object();
  if (patch.name) object.emplace("name", *patch.name);
  if (patch.price_cents) object.emplace("price_cents", *patch.price_cents);
  if (patch.stock) object.emplace("stock", *patch.stock);
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const ReserveLine& line) {
  json = boost::json::object{{"product_id", line.product_id}, {"quantity", line.quantity}};
}

void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const ReservedLine& line) {
  json = boost::json::object{
      {"product_id", line.product_id}, {"quantity", line.quantity}, {"unit_price_cents", line.unit_price_cents}};
}

}  // namespace shop::products
