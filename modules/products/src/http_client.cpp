#include <string>
#include <utility>

#include "shop/products/remote.h"
#include "wire.h"

namespace shop::products {
namespace {

/// products::Api over HTTP. Answers become the values and Errc the in-process service gives; no
/// answer, a 5xx or an answer that cannot be read becomes Errc::kUnavailable naming the service.
class HttpClient final : public Api {
 public:
  HttpClient(http::ClientOptions options, auth::ServiceTokenProvider* identity)
      : client_(std::move(options)), identity_(identity) {}

  std::expected<Product, Error> GetProduct(std::int64_t id) override {
    auto response = Send({.method = "GET", .target = "/products/" + std::to_string(id)});
    if (!response) return std::unexpected(std::move(response.error()));
    return Decoded(wire::DecodeProduct(response->body));
  }

  std::expected<Page<Product>, Error> ListProducts(const PageRequest& page) override {
    std::string target = "/products?limit=" + std::to_string(page.limit);
    if (page.after) target += "&after=" + std::to_string(*page.after);
    auto response = Send({.method = "GET", .target = std::move(target)});
    if (!response) return std::unexpected(std::move(response.error()));
    return Decoded(wire::DecodePage(response->body));
  }

  std::expected<Product, Error> CreateProduct(const Principal& caller, const NewProduct& product) override {
    auto body = wire::EncodeNewProduct(product);
    if (!body) return std::unexpected(std::move(body.error()));
    // Not safe to repeat: a lost answer to a create that happened would make the retry a sku_taken.
    auto response = Send({.method = "POST",
                          .target = "/products",
                          .body = std::move(*body),
                          .credential = &caller.credential,
                          .success = 201,
                          .safe_to_repeat = false});
    if (!response) return std::unexpected(std::move(response.error()));
    return Decoded(wire::DecodeProduct(response->body));
  }

  std::expected<Product, Error> UpdateProduct(const Principal& caller, std::int64_t id,
                                              const ProductPatch& patch) override {
    auto body = wire::EncodePatch(patch);
    if (!body) return std::unexpected(std::move(body.error()));
    // A patch sets absolute values, so applying it twice is applying it once.
    auto response = Send({.method = "PATCH",
                          .target = "/products/" + std::to_string(id),
                          .body = std::move(*body),
                          .credential = &caller.credential});
    if (!response) return std::unexpected(std::move(response.error()));
    return Decoded(wire::DecodeProduct(response->body));
  }

  std::expected<std::vector<ReservedLine>, Error> Reserve(std::string_view order_ref,
                                                          const std::vector<ReserveLine>& lines) override {
    auto body = wire::EncodeReserveRequest(order_ref, lines);
    if (!body) return std::unexpected(std::move(body.error()));
    // Safe to repeat: a reservation is idempotent by its order reference.
    auto response =
        Send({.method = "POST", .target = "/internal/reservations", .body = std::move(*body), .as_service = true});
    if (!response) return std::unexpected(std::move(response.error()));
    return Decoded(wire::DecodeReservedLines(response->body));
  }

  std::expected<void, Error> Release(std::string_view order_ref) override {
    auto body = wire::EncodeReleaseRequest(order_ref);
    if (!body) return std::unexpected(std::move(body.error()));
    auto response =
        Send({.method = "POST", .target = "/internal/releases", .body = std::move(*body), .as_service = true});
    if (!response) return std::unexpected(std::move(response.error()));
    auto released = Decoded(wire::DecodeReleased(response->body));
    if (!released) return std::unexpected(std::move(released.error()));
    if (*released != order_ref) return std::unexpected(Unavailable("answered for another order reference"));
    return {};
  }

 private:
  struct Call {
    std::string method;
    std::string target;
    std::string body;                         ///< JSON; none when empty
    const std::string* credential = nullptr;  ///< the caller's bearer token, for calls on a caller's behalf
    int success = 200;                        ///< the status of the answer that carries the result
    bool safe_to_repeat = true;
    bool as_service = false;  ///< an internal route: present this service's own token
  };

  /// The answer with the `success` status, or the failure any other outcome stands for.
  std::expected<http::Response, Error> Send(Call call) {
    http::Request request;
    request.method = std::move(call.method);
    request.target = std::move(call.target);
    // No credential, no header: the service answers 401, which reads back as kForbidden.
    if (call.credential && !call.credential->empty()) {
      request.headers.Add("Authorization", "Bearer " + *call.credential);
    }
    if (!call.body.empty()) {
      request.headers.Add("Content-Type", "application/json");
      request.body = std::move(call.body);
    }
    auto response = call.as_service ? SendAsService(std::move(request), call.safe_to_repeat)
                                    : Answer(client_.Send(std::move(request), call.safe_to_repeat));
    if (!response) return std::unexpected(std::move(response.error()));
    if (response->status == call.success) return std::move(*response);
    if (response->status >= 500) {
      return std::unexpected(Unavailable("failed (HTTP " + std::to_string(response->status) + ")"));
    }
    if (auto failure = wire::kErrors.FailureFrom(*response)) return std::unexpected(std::move(*failure));
    return std::unexpected(Unavailable("sent an unexpected answer (HTTP " + std::to_string(response->status) + ")"));
  }

  std::expected<http::Response, Error> Answer(std::expected<http::Response, http::CallError>&& response) const {
    if (!response) return std::unexpected(Unavailable(http::Describe(response.error())));
    return std::move(*response);
  }

  /// Sends `request` with this service's token; a token refused with 401 (expired early, say, or
  /// signed by a key users has since replaced) is dropped and the call made once more with a new one.
  /// Refusals the caller cannot fix are kUnavailable: to it, the dependency cannot be used.
  std::expected<http::Response, Error> SendAsService(http::Request request, bool safe_to_repeat) {
    if (!identity_) return std::unexpected(Unavailable("cannot be called: this service has no identity"));
    for (int attempt = 0;; ++attempt) {
      auto token = identity_->Token();
      if (!token) return std::unexpected(Unavailable("cannot be called without a service token: " + token.error()));
      http::Request sent = request;
      sent.headers.Set("Authorization", "Bearer " + *token);
      auto response = Answer(client_.Send(std::move(sent), safe_to_repeat));
      if (!response) return response;
      if (response->status == 401 && attempt == 0) {
        identity_->Refused(*token);
        continue;
      }
      if (response->status == 401 || response->status == 403) {
        return std::unexpected(
            Unavailable("refused this service's identity (HTTP " + std::to_string(response->status) + ")"));
      }
      return response;
    }
  }

  template <class T>
  std::expected<T, Error> Decoded(std::expected<T, json::DecodeError>&& value) const {
    if (!value) return std::unexpected(Unavailable("sent an unreadable answer: " + value.error().detail));
    return std::move(*value);
  }

  Error Unavailable(std::string_view what) const {
    return Error(Errc::kUnavailable, client_.options().name + " service " + std::string(what));
  }

  http::Client client_;
  auth::ServiceTokenProvider* identity_;
};

}  // namespace

std::unique_ptr<Api> MakeHttpClient(http::ClientOptions options, auth::ServiceTokenProvider* identity) {
  return std::make_unique<HttpClient>(std::move(options), identity);
}

}  // namespace shop::products
