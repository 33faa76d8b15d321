#pragma once

// The products module's wire format, in one place and in both directions: how its values travel as
// JSON and how its errors travel as problem details. The public routes, the internal routes and the
// HTTP client all use it, so what one side writes is what the other side reads.

#include <boost/json/value_from.hpp>
#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shop/core/page.h"
#include "shop/http/error_table.h"
#include "shop/http/message.h"
#include "shop/json/reader.h"
#include "shop/products/api.h"

namespace shop::products::wire {

/// How every Errc travels (http::ErrorTable): the first row of an Errc is how it is answered; a later
/// row with the same Errc is a status and code that is only read back as it.
inline constexpr http::ErrorMapping<Errc> kErrorRows[] = {
    {Errc::kValidationFailed, 400, "validation_failed"},
    {Errc::kSkuTaken, 409, "sku_taken"},
    {Errc::kNotFound, 404, "not_found"},
    {Errc::kForbidden, 403, "forbidden"},
    {Errc::kUnknownProduct, 422, "unknown_product"},
    {Errc::kInsufficientStock, 409, "insufficient_stock"},
    {Errc::kReservationReleased, 409, "reservation_released"},
    {Errc::kUnavailable, 503, "dependency_unavailable"},
    // Read back only: answers given before the domain is reached. A body the adapter could not parse,
    // or too large to be read; a caller without a valid token (in-process callers are always
    // authenticated, so for them that cannot happen).
    {Errc::kValidationFailed, 400, "malformed_json"},
    {Errc::kValidationFailed, 413, "payload_too_large"},
    {Errc::kForbidden, 401, "unauthenticated"},
};
inline constexpr http::ErrorTable<Errc> kErrors(kErrorRows);
static_assert(kErrors.Complete(Errc::kUnavailable),
              "every products::Errc needs a row in kErrorRows, and no status and code may be in two rows");

// Encoders and decoders, each pair in one place (wire.cpp). Values become JSON through tag_invoke and
// boost::json::value_from (declared at the end), except a Product, whose encoder is written by hand for
// the hot path (the figure is beside it). The Encode* functions add what JSON alone cannot say.
// Decoders of public request bodies are strict (an unknown field is an error); decoders of what another
// service sent, answers and internal requests alike, ignore unknown fields (json::ObjectReader).

/// Product: {"id","sku","name","price_cents","stock","created_at"}.
std::string EncodeProduct(const Product& product);
std::expected<Product, json::DecodeError> DecodeProduct(std::string_view body);

/// A page of products: {"items":[product...],"next_after":ID or null}.
std::string EncodePage(const Page<Product>& page);
std::expected<Page<Product>, json::DecodeError> DecodePage(std::string_view body);

// Encoding a request fails only for text that is not UTF-8: JSON cannot carry it. The failure is the
// validation error the service would give such a field.

/// POST /products: {"sku","name","price_cents","stock"}, all required, nothing else.
std::expected<std::string, Error> EncodeNewProduct(const NewProduct& product);
std::expected<NewProduct, json::DecodeError> DecodeNewProduct(std::string_view body);

/// PATCH /products/{id}: any of {"name","price_cents","stock"}; the sku never changes.
std::expected<std::string, Error> EncodePatch(const ProductPatch& patch);
std::expected<ProductPatch, json::DecodeError> DecodePatch(std::string_view body);

/// POST /internal/reservations: {"order_ref","lines":[{"product_id","quantity"}]}. Only shapes and
/// types are checked here; the rules (at least one line, positive quantities) are the domain's.
struct ReserveRequest {
  std::string order_ref;
  std::optional<std::int64_t> order_id;  ///< absent or null: no order id given
  std::vector<ReserveLine> lines;
};
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const ReserveRequest& request);
std::expected<std::string, Error> EncodeReserveRequest(std::string_view order_ref,
                                                       std::optional<std::int64_t> order_id,
                                                       const std::vector<ReserveLine>& lines);
std::expected<ReserveRequest, json::DecodeError> DecodeReserveRequest(std::string_view body);

/// Its answer: {"lines":[{"product_id","quantity","unit_price_cents"}]}.
std::string EncodeReservedLines(const std::vector<ReservedLine>& lines);
std::expected<std::vector<ReservedLine>, json::DecodeError> DecodeReservedLines(std::string_view body);

/// POST /internal/releases: {"order_ref"}; decodes to the order reference.
std::expected<std::string, Error> EncodeReleaseRequest(std::string_view order_ref);
std::expected<std::string, json::DecodeError> DecodeReleaseRequest(std::string_view body);

/// Its answer: {"order_ref","released":true}; decodes to the order reference.
std::string EncodeReleased(std::string_view order_ref);
std::expected<std::string, json::DecodeError> DecodeReleased(std::string_view body);

}  // namespace shop::products::wire

// The JSON form of the module's values: boost::json::value_from finds these beside the types (ADL).
namespace shop::products {

/// {"sku","name","price_cents","stock"}.
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const NewProduct& product);
/// The fields present, and no others.
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const ProductPatch& patch);
/// {"product_id","quantity"}.
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const ReserveLine& line);
/// {"product_id","quantity","unit_price_cents"}.
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const ReservedLine& line);

}  // namespace shop::products
