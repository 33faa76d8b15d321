// Split builds only: how services get their identity from users. The client credentials grant
// route (modules/users/src/internal_routes.cpp) through the App pipeline a server runs, and
// ServiceTokenSource, the caller's cache of service tokens.

#include <doctest/doctest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shop/http/app.h"
#include "shop/users/remote.h"
#include "users_fixture.h"
#include "wire.h"

namespace shop::users {
namespace {

using namespace std::chrono_literals;
using testing::FastOptions;
using testing::ServiceFixture;

const std::string kSecret = "9d2c4b6a8e0f1a3c5e7b9d1f3a5c7e9b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c";

ServiceOptions WithOrdersClient() {
  ServiceOptions options = FastOptions();
  options.service_clients = {{"orders", kSecret}};
  return options;
}

/// The internal route on an App, over a real service that knows the client "orders".
struct GrantFixture : ServiceFixture {
  GrantFixture() : ServiceFixture(WithOrdersClient()) {
    verifier.SetKeys({key.public_key()});
    AddInternalRoutes(app.router(), *service);
    app.Seal();
  }

  http::Response Post(std::string authorization, std::string body = "grant_type=client_credentials",
                      std::string content_type = "application/x-www-form-urlencoded") {
    http::Request request;
    request.method = "POST";
    request.target = "/internal/oauth/token";
    if (!content_type.empty()) request.headers.Add("Content-Type", std::move(content_type));
    if (!authorization.empty()) request.headers.Add("Authorization", std::move(authorization));
    request.body = std::move(body);
    return app.Handle(request);
  }

  auth::Verifier verifier;
  http::App app{"users", "test"};
};

std::string Basic(std::string_view id, std::string_view secret) {
  return wire::BasicAuthorization({std::string(id), std::string(secret)});
}

std::string CodeOf(const http::Response& r) {
  boost::system::error_code ec;
  auto body = boost::json::parse(r.body, ec);
  if (ec || !body.is_object() || !body.as_object().contains("code")) return {};
  return std::string(body.at("code").as_string());
}

TEST_CASE("grant: a registered client with its secret gets a service token, never cached") {
  GrantFixture f;
  http::Response r = f.Post(Basic("orders", kSecret));
  CAPTURE(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.headers.Get("Content-Type") == "application/json");
  CHECK(r.headers.Get("Cache-Control") == "no-store");
  const boost::json::object body = boost::json::parse(r.body).as_object();
  CHECK(body.size() == 3);
  CHECK(body.at("token_type").as_string() == "Bearer");
  CHECK(body.at("expires_in").as_int64() == 300);
  auto identity = f.verifier.VerifyService(body.at("access_token").as_string());
  REQUIRE(identity.has_value());
  CHECK(identity->service == "orders");
  CHECK_FALSE(f.verifier.Verify(body.at("access_token").as_string()).has_value());
  // The scheme name is case-insensitive (RFC 7617), parameters of the media type are allowed, and
  // unknown parameters are ignored (RFC 6749 3.1).
  std::string lower = Basic("orders", kSecret);
  lower.replace(0, 5, "basic");
  CHECK(f.Post(lower).status == 200);
  CHECK(f.Post(Basic("orders", kSecret), "grant_type=client_credentials",
               "application/x-www-form-urlencoded; charset=UTF-8")
            .status == 200);
  CHECK(f.Post(Basic("orders", kSecret), "grant_type=client_credentials&audience=x").status == 200);
}

TEST_CASE("grant: missing, malformed or wrong client credentials are 401 unauthenticated, alike") {
  GrantFixture f;
  std::string wrong_secret = kSecret;
  wrong_secret[0] = wrong_secret[0] == 'a' ? 'b' : 'a';
  const std::pair<const char*, std::string> refused[] = {
      {"no Authorization", ""},
      {"Bearer instead of Basic", "Bearer " + kSecret},
      {"Basic without credentials", "Basic "},
      {"not base64", "Basic ***"},
      {"base64 without padding", "Basic b3JkZXJzOng"},
      {"no colon", "Basic b3JkZXJz"},
      {"a bad percent escape", "Basic b3JkZXJzOiV6eg=="},
      {"wrong secret", Basic("orders", wrong_secret)},
      {"unknown client", Basic("payments", kSecret)},
      {"empty secret", Basic("orders", "")},
  };
  for (const auto& [label, authorization] : refused) {
    CAPTURE(label);
    http::Response r = f.Post(authorization);
    CAPTURE(r.body);
    CHECK(r.status == 401);
    CHECK(CodeOf(r) == "unauthenticated");
    CHECK(r.headers.Get("WWW-Authenticate").starts_with("Basic "));
  }
  CHECK(f.Post(Basic("orders", wrong_secret)).body.find("detail") != std::string::npos);
  CHECK(boost::json::parse(f.Post(Basic("orders", wrong_secret)).body).at("detail") ==
        boost::json::parse(f.Post(Basic("payments", kSecret)).body).at("detail"));
}

TEST_CASE("grant: anything but one grant_type=client_credentials is 400 validation_failed, other media types 415") {
  GrantFixture f;
  for (const std::string& body : std::vector<std::string>{
           "", "grant_type=password", "grant_type=client_credentials&grant_type=client_credentials",
           "grant_type=CLIENT_CREDENTIALS", "grant_type=client_credentials&scope=admin",
           "grant_type=client_credentials&client_id=orders", "grant_type=client_credentials&client_secret=" + kSecret,
           "grant_type=%zz"}) {
    CAPTURE(body);
    http::Response r = f.Post(Basic("orders", kSecret), body);
    CHECK(r.status == 400);
    CHECK(CodeOf(r) == "validation_failed");
  }
  http::Response json = f.Post(Basic("orders", kSecret), R"({"grant_type":"client_credentials"})", "application/json");
  CHECK(json.status == 415);
  CHECK(CodeOf(json) == "unsupported_media_type");
  CHECK(f.Post(Basic("orders", kSecret), "grant_type=client_credentials", "").status == 415);
}

TEST_CASE("Basic credentials round-trip through form encoding (RFC 6749 2.3.1)") {
  for (const ClientCredentials& c : {ClientCredentials{"orders", kSecret}, ClientCredentials{"a b", "p:ss%+&é"}}) {
    auto parsed = wire::ParseBasicAuthorization(wire::BasicAuthorization(c));
    REQUIRE(parsed.has_value());
    CHECK(parsed->client_id == c.client_id);
    CHECK(parsed->client_secret == c.client_secret);
  }
}

/// A users::Api issuing numbered service tokens for one client, counting the calls; can be told to fail.
class CountingIssuer final : public Api {
 public:
  std::expected<AccessToken, Error> IssueServiceToken(const ClientCredentials& client) override {
    std::lock_guard lock(mu_);
    ++calls_;
    if (fail_) return Fail(Errc::kUnavailable, "users service could not be reached");
    if (client.client_id != "orders" || client.client_secret != kSecret) return Fail(Errc::kUnauthenticated, "no");
    return AccessToken{"token-" + std::to_string(calls_), 100};
  }
  void SetFailing(bool fail) {
    std::lock_guard lock(mu_);
    fail_ = fail;
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

  std::expected<User, Error> Register(const NewUser&) override { return Fail(Errc::kUnavailable); }
  std::expected<AccessToken, Error> IssueToken(std::string_view, std::string_view) override {
    return Fail(Errc::kUnavailable);
  }
  std::expected<User, Error> GetUser(const Principal&, std::int64_t) override { return Fail(Errc::kUnavailable); }
  std::expected<std::string, Error> Jwks() override { return Fail(Errc::kUnavailable); }

 private:
  std::mutex mu_;
  int calls_ = 0;
  bool fail_ = false;
};

/// A clock the test moves by hand.
struct ManualClock {
  std::atomic<ServiceTokenSource::Clock::rep> ticks{0};
  ServiceTokenSource::Clock::time_point now() const {
    return ServiceTokenSource::Clock::time_point(ServiceTokenSource::Clock::duration(ticks.load()));
  }
  void Advance(std::chrono::milliseconds by) {
    ticks += std::chrono::duration_cast<ServiceTokenSource::Clock::duration>(by).count();
  }
};

TEST_CASE("ServiceTokenSource: one token is shared until 80% of its life, then renewed") {
  CountingIssuer users;
  ManualClock clock;
  ServiceTokenSource source(users, {"orders", kSecret}, {.now = [&] { return clock.now(); }});
  CHECK(source.Token() == "token-1");
  CHECK(source.Token() == "token-1");
  clock.Advance(79s);  // the token lives 100 s
  CHECK(source.Token() == "token-1");
  CHECK(users.calls() == 1);
  clock.Advance(2s);
  CHECK(source.Token() == "token-2");
  CHECK(users.calls() == 2);
}

TEST_CASE("ServiceTokenSource: a failed renewal keeps the valid token, an expired one is an error") {
  CountingIssuer users;
  ManualClock clock;
  ServiceTokenSource source(users, {"orders", kSecret}, {.retry_after = 1000ms, .now = [&] { return clock.now(); }});
  REQUIRE(source.Token() == "token-1");
  users.SetFailing(true);
  clock.Advance(85s);
  CHECK(source.Token() == "token-1");  // renewal failed: still valid
  CHECK(users.calls() == 2);
  CHECK(source.Token() == "token-1");  // no new attempt before retry_after
  CHECK(users.calls() == 2);
  clock.Advance(1s);
  CHECK(source.Token() == "token-1");
  CHECK(users.calls() == 3);
  clock.Advance(20s);  // past expiry
  auto none = source.Token();
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().find("users service could not be reached") != std::string::npos);
  users.SetFailing(false);
  CHECK(source.Token().has_value());
}

TEST_CASE("ServiceTokenSource: a refused token is dropped, a newer one is kept, wrong credentials are an error") {
  CountingIssuer users;
  ServiceTokenSource source(users, {"orders", kSecret});
  REQUIRE(source.Token() == "token-1");
  source.Refused("token-1");
  CHECK(source.Token() == "token-2");
  source.Refused("token-1");  // stale news: token-2 stays
  CHECK(source.Token() == "token-2");
  CHECK(users.calls() == 2);

  ServiceTokenSource impostor(users, {"orders", "not-the-secret"});
  CHECK_FALSE(impostor.Token().has_value());
}

TEST_CASE("ServiceTokenSource: many threads at once share one fetch") {
  CountingIssuer users;
  ServiceTokenSource source(users, {"orders", kSecret});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) ok += source.Token() == "token-1" ? 1 : 0;
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(ok == 8 * 200);
  CHECK(users.calls() == 1);
}

}  // namespace
}  // namespace shop::users
