#include <string>

#include "shop/core/text.h"
#include "shop/http/adapter.h"
#include "shop/products/http.h"

namespace shop::products {
namespace {

http::ProblemCode ProblemFor(Errc code) {
  switch (code) {
    case Errc::kValidationFailed:
      return {400, "validation_failed"};
    case Errc::kSkuTaken:
      return {409, "sku_taken"};
    case Errc::kNotFound:
      return {404, "not_found"};
    case Errc::kForbidden:
      return {403, "forbidden"};
    case Errc::kUnknownProduct:
      return {422, "unknown_product"};
    case Errc::kInsufficientStock:
      return {409, "insufficient_stock"};
    case Errc::kReservationReleased:
      return {409, "reservation_released"};
    case Errc::kUnavailable:
      return {503, "dependency_unavailable"};
  }
  return {500, "internal"};
}

http::Response FailureResponse(const Error& error) { return http::FailureProblem(error, ProblemFor); }

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  text::AppendJsonEscaped(out, text);
  out += '"';
}

/// The one place a Product becomes JSON: {"id","sku","name","price_cents","stock","created_at"}.
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

constexpr std::size_t kProductJsonOverhead = 96;  // keys, punctuation, numbers and the timestamp

http::Response ProductResponse(int status, const Product& product) {
  std::string body;
  body.reserve(kProductJsonOverhead + product.sku.size() + product.name.size());
  AppendProduct(body, product);
  return http::JsonResponse(status, std::move(body));
}

http::Response PageResponse(const Page<Product>& page) {
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
  return http::JsonResponse(200, std::move(body));
}

/// POST /products: {"sku","name","price_cents","stock"}, all required, nothing else.
std::expected<NewProduct, http::Response> DecodeNewProduct(const http::Request& request) {
  auto object = http::ParseJsonBody(request);
  if (!object) return std::unexpected(std::move(object.error()));
  json::ObjectReader reader(*object);
  auto sku = reader.String("sku");
  auto name = reader.String("name");
  auto price_cents = reader.Int("price_cents");
  auto stock = reader.Int("stock");
  if (auto error = reader.Finish()) return std::unexpected(http::DecodeProblem(*error));
  return NewProduct{std::move(*sku), std::move(*name), *price_cents, *stock};
}

/// PATCH /products/{id}: any of {"name","price_cents","stock"}; the sku never changes.
std::expected<ProductPatch, http::Response> DecodePatch(const http::Request& request) {
  auto object = http::ParseJsonBody(request);
  if (!object) return std::unexpected(std::move(object.error()));
  json::ObjectReader reader(*object);
  ProductPatch patch;
  patch.name = reader.String("name", false);
  patch.price_cents = reader.Int("price_cents", false);
  patch.stock = reader.Int("stock", false);
  if (object->contains("sku")) reader.Reject("sku", "cannot be changed");
  if (auto error = reader.Finish()) return std::unexpected(http::DecodeProblem(*error));
  return patch;
}

}  // namespace

void AddRoutes(http::Router& router, Api& products, const auth::Verifier& verifier) {
  router.Add("GET", "/products", [&products](const http::Context& ctx) {
    auto page = http::ParsePageRequest(ctx.request);
    if (!page) return std::move(page.error());
    auto result = products.ListProducts(*page);
    if (!result) return FailureResponse(result.error());
    return PageResponse(*result);
  });

  router.Add("GET", "/products/{id}", [&products](const http::Context& ctx) {
    auto id = ctx.IdParam(0);
    if (!id) return http::Problem(404, "not_found", "no such product");
    auto product = products.GetProduct(*id);
    if (!product) return FailureResponse(product.error());
    return ProductResponse(200, *product);
  });

  router.Add(
      "POST", "/products",
      [&products, &verifier](const http::Context& ctx) {
        auto caller = http::Authenticate(ctx.request, verifier);
        if (!caller) return std::move(caller.error());
        auto input = DecodeNewProduct(ctx.request);
        if (!input) return std::move(input.error());
        auto product = products.CreateProduct(*caller, *input);
        if (!product) return FailureResponse(product.error());
        http::Response response = ProductResponse(201, *product);
        response.headers.Add("Location", "/products/" + std::to_string(product->id));
        return response;
      },
      http::RouteOptions{.json_body = true});

  router.Add(
      "PATCH", "/products/{id}",
      [&products, &verifier](const http::Context& ctx) {
        auto caller = http::Authenticate(ctx.request, verifier);
        if (!caller) return std::move(caller.error());
        auto patch = DecodePatch(ctx.request);
        if (!patch) return std::move(patch.error());
        // Text that is not an id names no product: the domain answers 403 or 404 as for any unknown id.
        auto product = products.UpdateProduct(*caller, ctx.IdParam(0).value_or(0), *patch);
        if (!product) return FailureResponse(product.error());
        return ProductResponse(200, *product);
      },
      http::RouteOptions{.json_body = true});
}

}  // namespace shop::products
