// http::RemoteCaller, the one way a module's HTTP client crosses to another service, against a scripted
// service: what it sends, and how every kind of outcome becomes the module's result.
#include "shop/http_client/remote_call.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

#include "scripted_service.h"

namespace shop::http {
namespace {

using namespace std::chrono_literals;
using shop::testing::ScriptedService;

enum class Errc { kInvalid, kNotFound, kForbidden, kDown };
using Error = Failure<Errc>;

constexpr ErrorMapping<Errc> kRows[] = {
    {Errc::kInvalid, 400, "validation_failed"}, {Errc::kNotFound, 404, "not_found"},
    {Errc::kForbidden, 403, "forbidden"},       {Errc::kDown, 503, "dependency_unavailable"},
    {Errc::kForbidden, 401, "unauthenticated"},
};
constexpr ErrorTable<Errc> kErrors(kRows);
static_assert(kErrors.Complete(Errc::kDown));

struct Thing {
  std::int64_t id = 0;
  std::string name;
};

/// An answer's decoder, tolerant as every reader of another service's answers is.
std::expected<Thing, json::DecodeError> DecodeThing(std::string_view body) {
  auto object = json::ParseObject(body);
  if (!object) return std::unexpected(std::move(object.error()));
  json::ObjectReader reader(*object, json::ObjectReader::Strictness::kIgnoreUnknown);
  auto id = reader.Int("id");
  auto name = reader.String("name");
  if (auto error = reader.Finish()) return std::unexpected(std::move(*error));
  return Thing{*id, std::move(*name)};
}

std::string CodeOf(const std::expected<Thing, Error>& result) {
  if (result) return "ok";
  switch (result.error().code) {
    case Errc::kInvalid:
      return "invalid";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kForbidden:
      return "forbidden";
    case Errc::kDown:
      return "down";
  }
  return "?";
}

ClientOptions Options(std::string url) {
  return {.name = "things", .base_url = std::move(url), .backoff = 1ms, .breaker_failures = 1000};
}

RemoteRequest GetThing() { return {.method = "GET", .target = "/things/1"}; }

/// A service identity handing out numbered tokens, counting refusals.
class CountingIdentity final : public auth::ServiceTokenProvider {
 public:
  std::expected<std::string, std::string> Token() override { return "token" + std::to_string(refused_.load()); }
  void Refused(std::string_view) override { ++refused_; }
  int refused() const { return refused_; }

 private:
  std::atomic<int> refused_{0};
};

/// A loopback port nothing listens on.
std::string ClosedPortUrl() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

}  // namespace

TEST_SUITE("remote call") {
  TEST_CASE("the expected success is decoded, and fields a newer service added are ignored") {
    ScriptedService service;
    RemoteCaller<Errc> remote(Options(service.url()), kErrors, Errc::kDown);
    service.Answer(200, R"({"id":1,"name":"one","colour":"red","added":{"in":["v1.1"]}})");
    auto thing = remote.Call(GetThing(), DecodeThing);
    REQUIRE_MESSAGE(thing.has_value(), thing.error().detail);
    CHECK(thing->id == 1);
    CHECK(thing->name == "one");

    service.Answer(200, R"({"id":"1","name":"one"})");
    auto unreadable = remote.Call(GetThing(), DecodeThing);
    CHECK(CodeOf(unreadable) == "down");
    CHECK(unreadable.error().detail == "things service sent an unreadable answer: id: must be an integer");
  }

  TEST_CASE("requests carry the method, target, body, media type and credential asked for") {
    ScriptedService service;
    RemoteCaller<Errc> remote(Options(service.url()), kErrors, Errc::kDown);
    service.Answer(201, R"({"id":2,"name":"two"})");
    auto created = remote.Call({.method = "POST",
                                .target = "/things?x=1",
                                .body = R"({"name":"two"})",
                                .authorization = BearerAuthorization("a.b-c_d"),
                                .success = 201,
                                .safe_to_repeat = false},
                               DecodeThing);
    REQUIRE_MESSAGE(created.has_value(), created.error().detail);
    const Request sent = service.last_request();
    CHECK(sent.method == "POST");
    CHECK(sent.target == "/things?x=1");
    CHECK(sent.body == R"({"name":"two"})");
    CHECK(sent.headers.Get("Content-Type") == "application/json");
    CHECK(sent.headers.Get("Accept") == "application/json");
    CHECK(sent.headers.Get("Authorization") == "Bearer a.b-c_d");

    // A credential that cannot be a token never reaches a header: the call goes without one.
    CHECK(BearerAuthorization("a.b\r\nX-Evil: 1").empty());
    CHECK(BearerAuthorization(std::string(5000, 'a')).empty());
    CHECK(BearerAuthorization("").empty());
    auto without = remote.Call(
        {.method = "GET", .target = "/things/2", .authorization = BearerAuthorization("a b"), .success = 201},
        DecodeThing);
    REQUIRE(without.has_value());
    CHECK_FALSE(service.last_request().headers.Has("Authorization"));
    CHECK_FALSE(service.last_request().headers.Has("Content-Type"));
  }

  TEST_CASE("problem answers become the module's errors by status and code, anything else is unavailable") {
    ScriptedService service;
    RemoteCaller<Errc> remote(Options(service.url()), kErrors, Errc::kDown);

    service.AnswerProblem(404, "not_found", "no such thing");
    auto missing = remote.Call(GetThing(), DecodeThing);
    CHECK(CodeOf(missing) == "not_found");
    CHECK(missing.error().detail == "no such thing");
    service.AnswerProblem(401, "unauthenticated", "token expired");
    CHECK(CodeOf(remote.Call(GetThing(), DecodeThing)) == "forbidden");
    // Extensions are ignored.
    service.Answer(400, R"({"code":"validation_failed","detail":"name: is required","errors":[{"field":"name"}]})",
                   "application/problem+json");
    auto invalid = remote.Call(GetThing(), DecodeThing);
    CHECK(CodeOf(invalid) == "invalid");
    CHECK(invalid.error().detail == "name: is required");

    service.AnswerProblem(429, "rate_limited", "slow down");
    auto limited = remote.Call(GetThing(), DecodeThing);
    CHECK(CodeOf(limited) == "down");
    CHECK(limited.error().detail == "things service sent an unexpected answer: HTTP 429 rate_limited");
    service.AnswerProblem(409, "not_found", "status and code disagree");
    CHECK(CodeOf(remote.Call(GetThing(), DecodeThing)) == "down");
    service.Answer(418, "teapot", "text/plain");
    CHECK(remote.Call(GetThing(), DecodeThing).error().detail == "things service sent an unexpected answer: HTTP 418");
    service.Answer(200, R"({"id":1,"name":"one"})");
    CHECK(CodeOf(remote.Call({.method = "POST", .target = "/things", .success = 201}, DecodeThing)) == "down");
  }

  TEST_CASE("5xx answers and no answer are unavailable, and only calls safe to repeat are retried") {
    ScriptedService service;
    RemoteCaller<Errc> remote(Options(service.url()), kErrors, Errc::kDown);
    service.AnswerProblem(503, "dependency_unavailable", "its database is down");
    auto failed = remote.Call(GetThing(), DecodeThing);
    CHECK(CodeOf(failed) == "down");
    CHECK(failed.error().detail == "things service failed: HTTP 503");
    CHECK(service.calls() == 3);
    service.AnswerProblem(503, "dependency_unavailable", "its database is down");
    CHECK(CodeOf(remote.Call({.method = "POST", .target = "/things", .safe_to_repeat = false}, DecodeThing)) == "down");
    CHECK(service.calls() == 1);

    RemoteCaller<Errc> nowhere(Options(ClosedPortUrl()), kErrors, Errc::kDown);
    auto unreachable = nowhere.Call(GetThing(), DecodeThing);
    CHECK(CodeOf(unreachable) == "down");
    CHECK(unreachable.error().detail == "things service could not be reached: connection failed");
    CHECK(nowhere.Unavailable("is odd").detail == "things service is odd");
  }

  TEST_CASE("calls as this service present its token, renew it once on 401, and a refusal is unavailable") {
    ScriptedService service;
    CountingIdentity identity;
    RemoteCaller<Errc> remote(Options(service.url()), kErrors, Errc::kDown, &identity);
    const RemoteRequest internal{.method = "POST", .target = "/internal/things", .body = "{}", .as_service = true};

    service.Script({http::Problem(401, "unauthenticated", "the token has expired"),
                    ScriptedService::Response(200, R"({"id":3,"name":"three"})")});
    auto renewed = remote.Call(internal, DecodeThing);
    REQUIRE_MESSAGE(renewed.has_value(), renewed.error().detail);
    CHECK(identity.refused() == 1);
    const auto sent = service.requests();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].headers.Get("Authorization") == "Bearer token0");
    CHECK(sent[1].headers.Get("Authorization") == "Bearer token1");

    service.AnswerProblem(401, "unauthenticated", "not a service token");
    auto refused = remote.Call(internal, DecodeThing);
    CHECK(CodeOf(refused) == "down");
    CHECK(refused.error().detail == "things service refused this service's identity (HTTP 401)");
    service.AnswerProblem(403, "forbidden", "not allowed");
    const int refusals = identity.refused();
    CHECK(remote.Call(internal, DecodeThing).error().detail ==
          "things service refused this service's identity (HTTP 403)");
    CHECK(identity.refused() == refusals);  // a new token does not fix a 403

    RemoteCaller<Errc> anonymous(Options(service.url()), kErrors, Errc::kDown);
    service.Answer(200, R"({"id":3,"name":"three"})");
    CHECK(anonymous.Call(internal, DecodeThing).error().detail ==
          "things service cannot be called: this service has no identity");
    CHECK(service.calls() == 0);
  }
}

}  // namespace shop::http
