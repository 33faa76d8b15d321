#include <string>
#include <utility>

#include "shop/http_client/remote_call.h"
#include "shop/products/remote.h"
#include "wire.h"

namespace shop::products {
namespace {

/// products::Api over HTTP (http::RemoteCaller with the module's error table): answers become the
/// values and Errc the in-process service gives; no answer, a 5xx or an answer that cannot be read
/// becomes Errc::kUnavailable naming the service.
class HttpClient final : public Api {
 public:
  HttpClient(http::ClientOptions options, auth::ServiceTokenProvider* identity)
      : remote_(std::move(options), wire::kErrors, Errc::kUnavailable, identity) {}

  std::expected<Product, Error> GetProduct(std::int64_t id) override {
    return remote_.Call({.method = "GET", .target = "/products/" + std::to_string(id)}, wire::DecodeProduct);
  }

  std::expected<Page<Product>, Error> ListProducts(const PageRequest& page) override {
    std::string target = "/products?limit=" + std::to_string(page.limit);
    if (page.after) target += "&after=" + std::to_string(*page.after);
    return remote_.Call({.method = "GET", .target = std::move(target)}, wire::DecodePage);
  }

  std::expected<Product, Error> CreateProduct(const Principal& caller, const NewProduct& product) override {
    auto body = wire::EncodeNewProduct(product);
    if (!body) return std::unexpected(std::move(body.error()));
    // Not safe to repeat: a lost answer to a create that happened would make the retry a sku_taken.
    // Without a usable credential no header goes: the service answers 401, which reads back as kForbidden.
    return remote_.Call({.method = "POST",
                         .target = "/products",
                         .body = std::move(*body),
                         .authorization = http::BearerAuthorization(caller.credential),
                         .success = 201,
                         .safe_to_repeat = false},
                        wire::DecodeProduct);
  }

  std::expected<Product, Error> UpdateProduct(const Principal& caller, std::int64_t id,
                                              const ProductPatch& patch) override {
    auto body = wire::EncodePatch(patch);
    if (!body) return std::unexpected(std::move(body.error()));
    // A patch sets absolute values, so applying it twice is applying it once.
    return remote_.Call({.method = "PATCH",
                         .target = "/products/" + std::to_string(id),
                         .body = std::move(*body),
                         .authorization = http::BearerAuthorization(caller.credential)},
                        wire::DecodeProduct);
  }

  using Api::Reserve;
  std::expected<std::vector<ReservedLine>, Error> Reserve(std::string_view order_ref,
                                                          std::optional<std::int64_t> order_id,
                                                          const std::vector<ReserveLine>& lines) override {
    auto body = wire::EncodeReserveRequest(order_ref, order_id, lines);
    if (!body) return std::unexpected(std::move(body.error()));
    // Safe to repeat: a reservation is idempotent by its order reference.
    return remote_.Call(
        {.method = "POST", .target = "/internal/reservations", .body = std::move(*body), .as_service = true},
        wire::DecodeReservedLines);
  }

  std::expected<void, Error> Release(std::string_view order_ref) override {
    auto body = wire::EncodeReleaseRequest(order_ref);
    if (!body) return std::unexpected(std::move(body.error()));
    // Safe to repeat: a release is idempotent by its order reference.
    auto released = remote_.Call(
        {.method = "POST", .target = "/internal/releases", .body = std::move(*body), .as_service = true},
        wire::DecodeReleased);
    if (!released) return std::unexpected(std::move(released.error()));
    if (*released != order_ref) return std::unexpected(remote_.Unavailable("answered for another order reference"));
    return {};
  }

 private:
  http::RemoteCaller<Errc> remote_;
};

}  // namespace

std::unique_ptr<Api> MakeHttpClient(http::ClientOptions options, auth::ServiceTokenProvider* identity) {
  return std::make_unique<HttpClient>(std::move(options), identity);
}

}  // namespace shop::products
