#pragma once

// The products module's wire format, in one place and in both directions: how its values travel as
// JSON and how its errors travel as problem details. The public routes, the internal routes and the
// HTTP client all use it, so what one side writes is what the other side reads.

#include <array>
#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shop/core/page.h"
#include "shop/http/adapter.h"
#include "shop/http/message.h"
#include "shop/json/reader.h"
#include "shop/products/api.h"

namespace shop::products::wire {

/// One row of the error table: an error code and the problem status and code it travels as.
struct ErrorRow {
  Errc errc;
  http::ProblemCode problem;
};

/// How every Errc travels. The first row of an Errc is how it is answered; a later row with the
/// same Errc is a code that is only read back as it (answers made before the domain is reached).
inline constexpr std::array kErrorTable{
    ErrorRow{Errc::kValidationFailed, {400, "validation_failed"}},
    ErrorRow{Errc::kSkuTaken, {409, "sku_taken"}},
    ErrorRow{Errc::kNotFound, {404, "not_found"}},
    ErrorRow{Errc::kForbidden, {403, "forbidden"}},
    ErrorRow{Errc::kUnknownProduct, {422, "unknown_product"}},
    ErrorRow{Errc::kInsufficientStock, {409, "insufficient_stock"}},
    ErrorRow{Errc::kReservationReleased, {409, "reservation_released"}},
    ErrorRow{Errc::kUnavailable, {503, "dependency_unavailable"}},
    // Read back only: a body the adapter could not parse, and a caller without a valid token
    // (in-process callers are always authenticated, so for them that cannot happen).
    ErrorRow{Errc::kValidationFailed, {400, "malformed_json"}},
    ErrorRow{Errc::kForbidden, {401, "unauthenticated"}},
};

/// The status and code `code` is answered with.
constexpr http::ProblemCode ProblemFor(Errc code) {
  for (const ErrorRow& row : kErrorTable) {
    if (row.errc == code) return row.problem;
  }
  return {500, "internal"};
}

/// The Errc a problem `code` stands for; nullopt for a code that is not the module's.
constexpr std::optional<Errc> ErrcFromCode(std::string_view code) {
  for (const ErrorRow& row : kErrorTable) {
    if (row.problem.code == code) return row.errc;
  }
  return std::nullopt;
}

namespace detail {
/// Every Errc (kUnavailable is the last enumerator) has a row and reads back as itself.
constexpr bool EveryErrcRoundTrips() {
  for (std::size_t i = 0; i <= static_cast<std::size_t>(Errc::kUnavailable); ++i) {
    const auto code = static_cast<Errc>(i);
    if (ProblemFor(code).status == 500 || ErrcFromCode(ProblemFor(code).code) != code) return false;
  }
  return true;
}
}  // namespace detail
static_assert(detail::EveryErrcRoundTrips());

/// The problem response for a failure: the table's status and code, the failure's detail.
http::Response FailureResponse(const Error& error);

/// The failure a problem body (`{"type","title","status","detail","code"}`) stands for; nullopt
/// when it is not a problem or its code is not one of the module's.
std::optional<Error> FailureFromProblem(std::string_view body);

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
  std::vector<ReserveLine> lines;
};
std::expected<std::string, Error> EncodeReserveRequest(std::string_view order_ref,
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
