#include <string>

#include "shop/http/adapter.h"
#include "shop/products/http.h"
#include "wire.h"

namespace shop::products {

void AddRoutes(http::Router& router, Api& products, const auth::Verifier& verifier) {
  router.Add("GET", "/products", [&products](const http::Context& ctx) {
    auto page = http::ParsePageRequest(ctx.request);
    if (!page) return std::move(page.error());
    auto result = products.ListProducts(*page);
    if (!result) return wire::kErrors.Problem(result.error());
    return http::JsonResponse(200, wire::EncodePage(*result));
  });

  router.Add("GET", "/products/{id}", [&products](const http::Context& ctx) {
    auto id = ctx.IdParam(0);
    if (!id) return http::Problem(404, "not_found", "no such product");
    auto product = products.GetProduct(*id);
    if (!product) return wire::kErrors.Problem(product.error());
    return http::JsonResponse(200, wire::EncodeProduct(*product));
  });

  router.Add(
      "POST", "/products",
      [&products, &verifier](const http::Context& ctx) {
        auto caller = http::Authenticate(ctx.request, verifier);
        if (!caller) return std::move(caller.error());
        auto input = wire::DecodeNewProduct(ctx.request.body);
        if (!input) return http::DecodeProblem(input.error());
        auto product = products.CreateProduct(*caller, *input);
        if (!product) return wire::kErrors.Problem(product.error());
        http::Response response = http::JsonResponse(201, wire::EncodeProduct(*product));
        response.headers.Add("Location", "/products/" + std::to_string(product->id));
        return response;
      },
      http::RouteOptions{.json_body = true});

  router.Add(
      "PATCH", "/products/{id}",
      [&products, &verifier](const http::Context& ctx) {
        auto caller = http::Authenticate(ctx.request, verifier);
        if (!caller) return std::move(caller.error());
        auto patch = wire::DecodePatch(ctx.request.body);
        if (!patch) return http::DecodeProblem(patch.error());
        // Text that is not an id names no product: the domain answers 403 or 404 as for any unknown id.
        auto product = products.UpdateProduct(*caller, ctx.IdParam(0).value_or(0), *patch);
        if (!product) return wire::kErrors.Problem(product.error());
        return http::JsonResponse(200, wire::EncodeProduct(*product));
      },
      http::RouteOptions{.json_body = true});
}

}  // namespace shop::products
