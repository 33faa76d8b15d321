// JSON body decoding: http::ParseJsonBody and every module's decoder of untrusted JSON.
//
// Input: a request (or, for the split-mode decoders, response) body, as is.
// - http::ParseJsonBody, then the users decoders (new user, credentials; and the client side's user
//   and token answers), the products decoders (new product, patch, product, page, reservation
//   request and answer, release and its answer, problem documents);
// - POST /orders through the real orders route (its decoder is internal to the adapter), on an App
//   with a valid bearer token, when the body is a JSON object with `items`.
//
// Invariants (a violation aborts):
// - ParseJsonBody accepts only valid UTF-8, at most 32 levels deep, one object; it refuses with a 400
//   problem (malformed_json or validation_failed) that is itself valid JSON, whatever the body held;
// - every decoder's error becomes a 400 problem that is valid JSON (details quote field names taken
//   from the body);
// - what a decoder accepts, its module's encoder writes back, and decoding that gives the same value
//   (both sides of the wire read and write one format; JSON strings are UTF-8, so encoding never fails);
// - POST /orders answers 201, 400 or 422 (the stub's unknown product), never 5xx, with the headers
//   and JSON body every answer has.

#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/json/serialize.hpp>
#include "../../modules/products/src/wire.h"
#include "../../modules/users/src/wire.h"
#include "common.h"

#include "shop/core/text.h"
#include "shop/http/adapter.h"
#include "shop/http/app.h"
#include "shop/orders/http.h"
#include "stub_modules.h"

namespace {

using namespace shop;
using fuzz::Excerpt;

struct World {
  fuzz::Tokens tokens;
  fuzz::StubOrders orders;
  http::App app{"shop", "fuzz"};
  World() {
    orders::AddRoutes(app.router(), orders, tokens.verifier());
    app.Seal();
  }
};

World* world = nullptr;

std::size_t Depth(const boost::json::value& v) {
  std::size_t deepest = 0;
  if (const auto* a = v.if_array()) {
    for (const auto& e : *a) deepest = std::max(deepest, Depth(e));
    return deepest + 1;
  }
  if (const auto* o = v.if_object()) {
    for (const auto& m : *o) deepest = std::max(deepest, Depth(m.value()));
    return deepest + 1;
  }
  return 0;
}

/// A 400 problem for a body that is not what a decoder wants: valid JSON, whatever the detail quotes.
void CheckDecodeProblem(const json::DecodeError& error, std::string_view decoder, std::string_view body) {
  const http::Response r = http::DecodeProblem(error);
  const std::string where = std::string(decoder) + " on " + Excerpt(body) + ": " + Excerpt(r.body);
  FUZZ_CHECK(r.status == 400, "a decode error that is not 400: " + where);
  const auto problem = fuzz::ParseJson(r.body);
  FUZZ_CHECK(problem && problem->is_object(), "a decode problem that is not a JSON object: " + where);
  const auto* code = problem->as_object().if_contains("code");
  FUZZ_CHECK(code && code->is_string() &&
                 (code->get_string() == "malformed_json" || code->get_string() == "validation_failed"),
             "a decode problem with an unexpected code: " + where);
}

/// decode(body) accepted => encode(value) is accepted by decode and gives the same value.
template <class Value, class Decode, class Encode, class Equal>
void RoundTrip(std::string_view name, std::string_view body, Decode&& decode, Encode&& encode, Equal&& equal) {
  auto first = decode(body);
  FUZZ_TRACE("%s: %s\n", std::string(name).c_str(), first ? "accepted" : first.error().detail.c_str());
  if (!first) {
    CheckDecodeProblem(first.error(), name, body);
    return;
  }
  const std::string encoded = encode(*first);
  auto second = decode(encoded);
  FUZZ_CHECK(second.has_value(), std::string(name) + ": what the encoder wrote does not decode: " + Excerpt(encoded) +
                                     " (" + (second ? "" : second.error().detail) + "), from " + Excerpt(body));
  FUZZ_CHECK(equal(*first, *second), std::string(name) + ": the value changed on the way through " + Excerpt(encoded) +
                                         ", from " + Excerpt(body));
}

template <class T, class E>
std::string Must(const std::expected<T, E>& encoded, std::string_view what) {
  FUZZ_CHECK(encoded.has_value(), std::string(what) + ": the encoder refused a decoded value: " +
                                      (encoded ? std::string() : encoded.error().detail));
  return *encoded;
}

std::string Serialize(const boost::json::value& v) { return boost::json::serialize(v); }

void UsersDecoders(std::string_view body) {
  namespace uw = users::wire;
  RoundTrip<users::NewUser>(
      "users::wire::DecodeNewUser", body, uw::DecodeNewUser,
      [](const users::NewUser& u) { return Serialize(boost::json::value_from(u)); },
      [](const users::NewUser& a, const users::NewUser& b) {
        return a.email == b.email && a.password == b.password && a.name == b.name;
      });
  RoundTrip<uw::Credentials>(
      "users::wire::DecodeCredentials", body, uw::DecodeCredentials,
      [](const uw::Credentials& c) { return Serialize(boost::json::value_from(c)); },
      [](const uw::Credentials& a, const uw::Credentials& b) {
        return a.email == b.email && a.password == b.password;
      });
  RoundTrip<users::User>(
      "users::wire::DecodeUser", body, uw::DecodeUser, [](const users::User& u) { return Serialize(boost::json::value_from(u)); },
      [](const users::User& a, const users::User& b) {
        return a.id == b.id && a.email == b.email && a.name == b.name && a.role == b.role &&
               a.created_at == b.created_at;
      });
  RoundTrip<users::AccessToken>(
      "users::wire::DecodeAccessToken", body, uw::DecodeAccessToken,
      [](const users::AccessToken& t) { return Serialize(boost::json::value_from(t)); },
      [](const users::AccessToken& a, const users::AccessToken& b) {
        return a.token == b.token && a.expires_in == b.expires_in;
      });
}

bool SameProduct(const products::Product& a, const products::Product& b) {
  return a.id == b.id && a.sku == b.sku && a.name == b.name && a.price_cents == b.price_cents && a.stock == b.stock &&
         a.created_at == b.created_at;
}

void ProductsDecoders(std::string_view body) {
  namespace pw = products::wire;
  RoundTrip<products::NewProduct>(
      "products::wire::DecodeNewProduct", body, pw::DecodeNewProduct,
      [](const products::NewProduct& p) { return Must(pw::EncodeNewProduct(p), "EncodeNewProduct"); },
      [](const products::NewProduct& a, const products::NewProduct& b) {
        return a.sku == b.sku && a.name == b.name && a.price_cents == b.price_cents && a.stock == b.stock;
      });
  RoundTrip<products::ProductPatch>(
      "products::wire::DecodePatch", body, pw::DecodePatch,
      [](const products::ProductPatch& p) { return Must(pw::EncodePatch(p), "EncodePatch"); },
      [](const products::ProductPatch& a, const products::ProductPatch& b) {
        return a.name == b.name && a.price_cents == b.price_cents && a.stock == b.stock;
      });
  RoundTrip<products::Product>("products::wire::DecodeProduct", body, pw::DecodeProduct, pw::EncodeProduct,
                               SameProduct);
  RoundTrip<Page<products::Product>>("products::wire::DecodePage", body, pw::DecodePage, pw::EncodePage,
                                     [](const Page<products::Product>& a, const Page<products::Product>& b) {
                                       return a.next_after == b.next_after &&
                                              std::ranges::equal(a.items, b.items, SameProduct);
                                     });
  RoundTrip<pw::ReserveRequest>(
      "products::wire::DecodeReserveRequest", body, pw::DecodeReserveRequest,
      [](const pw::ReserveRequest& r) {
        return Must(pw::EncodeReserveRequest(r.order_ref, r.order_id, r.lines), "EncodeReserveRequest");
      },
      [](const pw::ReserveRequest& a, const pw::ReserveRequest& b) {
        return a.order_ref == b.order_ref && std::ranges::equal(a.lines, b.lines, [](const auto& x, const auto& y) {
                 return x.product_id == y.product_id && x.quantity == y.quantity;
               });
      });
  RoundTrip<std::vector<products::ReservedLine>>("products::wire::DecodeReservedLines", body, pw::DecodeReservedLines,
                                                 pw::EncodeReservedLines, [](const auto& a, const auto& b) {
                                                   return std::ranges::equal(a, b, [](const auto& x, const auto& y) {
                                                     return x.product_id == y.product_id && x.quantity == y.quantity &&
                                                            x.unit_price_cents == y.unit_price_cents;
                                                   });
                                                 });
  RoundTrip<std::string>(
      "products::wire::DecodeReleaseRequest", body, pw::DecodeReleaseRequest,
      [](const std::string& ref) { return Must(pw::EncodeReleaseRequest(ref), "EncodeReleaseRequest"); },
      std::equal_to<>());
  RoundTrip<std::string>("products::wire::DecodeReleased", body, pw::DecodeReleased, pw::EncodeReleased,
                         std::equal_to<>());
  http::Response problem;
  problem.status = 409;
  problem.body = std::string(body);
  (void)pw::kErrors.FailureFrom(problem);
}

void PlaceOrder(World& w, std::string_view body) {
  http::Request request;
  request.method = "POST";
  request.target = "/orders";
  request.headers.Add("Content-Type", "application/json");
  request.headers.Add("Authorization", "Bearer " + w.tokens.user());
  request.body = std::string(body);
  const http::Response r = w.app.Handle(request);
  FUZZ_TRACE("POST /orders -> %d %s\n", r.status, Excerpt(r.body, 200).c_str());
  fuzz::CheckResponse(r, "POST /orders with " + Excerpt(body));
  FUZZ_CHECK(r.status == 201 || r.status == 400 || r.status == 422,
             "POST /orders answered " + std::to_string(r.status) + ": " + Excerpt(r.body));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::QuietLogs();
  world = new World();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = *world;
  w.tokens.Refresh();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  http::Request request;
  request.body = std::string(body);
  auto object = http::ParseJsonBody(request);
  if (!object) {
    const http::Response& r = object.error();
    FUZZ_CHECK(r.status == 400, "ParseJsonBody refused with " + std::to_string(r.status));
    const auto problem = fuzz::ParseJson(r.body);
    FUZZ_CHECK(problem && problem->is_object(), "ParseJsonBody's problem is not JSON: " + Excerpt(r.body));
  } else {
    FUZZ_CHECK(text::DecodeUtf8(body).has_value(), "ParseJsonBody accepted a body that is not UTF-8: " + Excerpt(body));
    const std::size_t depth = Depth(boost::json::value(*object));
    FUZZ_CHECK(depth <= 32, "ParseJsonBody accepted nesting " + std::to_string(depth) + " deep");
  }
  // The decoders parse the text themselves.
  UsersDecoders(body);
  ProductsDecoders(body);
  // Through the route (a signature check each time: slow) only when the orders decoder has something to read.
  if (object && object->contains("items")) PlaceOrder(w, body);
  return 0;
}
