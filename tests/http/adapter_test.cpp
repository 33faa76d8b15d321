#include "shop/http/adapter.h"

#include <doctest/doctest.h>

#include "shop/core/time.h"

using shop::http::Request;

namespace {
Request WithQuery(std::string target) {
  Request r;
  r.method = "GET";
  r.target = std::move(target);
  return r;
}
}  // namespace

TEST_CASE("page requests take the API's defaults and bounds") {
  auto page = shop::http::ParsePageRequest(WithQuery("/x"));
  REQUIRE(page);
  CHECK(page->limit == 20);
  CHECK_FALSE(page->after.has_value());
  page = shop::http::ParsePageRequest(WithQuery("/x?after=7&limit=100"));
  REQUIRE(page);
  CHECK(page->limit == 100);
  CHECK(page->after == 7);
  for (std::string_view bad : {"limit=0", "limit=101", "limit=abc", "limit=", "after=-1", "after=x", "limit=1e2"}) {
    INFO(bad);
    auto r = shop::http::ParsePageRequest(WithQuery("/x?" + std::string(bad)));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 400);
    CHECK(r.error().body.find("validation_failed") != std::string::npos);
  }
}

TEST_CASE("Authenticate accepts a Bearer token and rejects anything else with 401") {
  auto key = shop::auth::SigningKey::Generate();
  shop::auth::Verifier verifier;
  verifier.SetKeys({key.public_key()});
  const auto now = shop::UnixNow();
  const std::string token = key.Sign({shop::Principal{3, shop::Role::kCustomer}, now, now + 60});

  Request ok = WithQuery("/");
  ok.headers.Add("Authorization", "Bearer " + token);
  auto principal = shop::http::Authenticate(ok, verifier);
  REQUIRE(principal);
  CHECK(principal->user_id == 3);

  for (const std::string& header : std::vector<std::string>{"", "Basic abc", "Bearer", "Bearer ", "Bearer x.y.z", "Token " + token}) {
    Request r = WithQuery("/");
    if (!header.empty()) r.headers.Add("Authorization", header);
    auto result = shop::http::Authenticate(r, verifier);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().status == 401);
    CHECK(result.error().body.find("\"unauthenticated\"") != std::string::npos);
  }
}
