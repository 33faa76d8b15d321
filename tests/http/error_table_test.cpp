// The one shape of a module's error table (shop/http/error_table.h): both directions, and the checks a
// module's static_assert relies on.

#include "shop/http/error_table.h"

#include <doctest/doctest.h>

#include <string>

namespace {

using shop::http::ErrorMapping;
using shop::http::ErrorTable;
using shop::http::Response;

enum class Errc { kBad, kGone, kDown };
using Error = shop::Failure<Errc>;

constexpr ErrorMapping<Errc> kRows[] = {
    {Errc::kBad, 400, "validation_failed"},
    {Errc::kGone, 404, "not_found"},
    {Errc::kDown, 503, "dependency_unavailable"},
    {Errc::kBad, 400, "malformed_json"},  // read back only
};
constexpr ErrorTable<Errc> kErrors(kRows);
static_assert(kErrors.Complete(Errc::kDown));

constexpr ErrorMapping<Errc> kMissingOne[] = {{Errc::kBad, 400, "validation_failed"}, {Errc::kDown, 503, "x"}};
static_assert(!ErrorTable<Errc>(kMissingOne).Complete(Errc::kDown));
constexpr ErrorMapping<Errc> kTwice[] = {
    {Errc::kBad, 400, "validation_failed"}, {Errc::kGone, 404, "not_found"}, {Errc::kDown, 404, "not_found"}};
static_assert(!ErrorTable<Errc>(kTwice).Complete(Errc::kDown));
constexpr ErrorMapping<Errc> kBeyondLast[] = {{Errc::kBad, 400, "a"}, {Errc::kGone, 404, "b"}};
static_assert(!ErrorTable<Errc>(kBeyondLast).Complete(Errc::kBad));

Response Answer(int status, std::string body) {
  Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

}  // namespace

TEST_CASE("error table: a failure is answered by its first row, with its detail or the reason phrase") {
  Response bad = kErrors.Problem(Error(Errc::kBad, "name: is required"));
  CHECK(bad.status == 400);
  CHECK(bad.headers.Get("Content-Type") == "application/problem+json");
  CHECK(bad.body.find(R"("code":"validation_failed")") != std::string::npos);
  CHECK(bad.body.find(R"("detail":"name: is required")") != std::string::npos);
  CHECK(kErrors.Problem(Error(Errc::kGone)).body.find(R"("detail":"Not Found")") != std::string::npos);
  CHECK(kErrors.ProblemFor(static_cast<Errc>(9)).status == 500);
}

TEST_CASE("error table: problem answers read back by status and code, other answers do not") {
  auto bad = kErrors.FailureFrom(kErrors.Problem(Error(Errc::kBad, "d")));
  REQUIRE(bad.has_value());
  CHECK(bad->code == Errc::kBad);
  CHECK(bad->detail == "d");
  auto malformed = kErrors.FailureFrom(Answer(400, R"({"code":"malformed_json"})"));
  REQUIRE(malformed.has_value());
  CHECK(malformed->code == Errc::kBad);
  CHECK(malformed->detail.empty());
  // Extensions and members a newer version adds are ignored; the body's own status is not what counts.
  auto extended = kErrors.FailureFrom(
      Answer(404, R"({"type":"about:blank","status":500,"code":"not_found","detail":"x","instance":"/a","n":[1]})"));
  REQUIRE(extended.has_value());
  CHECK(extended->code == Errc::kGone);

  CHECK_FALSE(kErrors.FailureFrom(Answer(409, R"({"code":"not_found"})")).has_value());
  CHECK_FALSE(kErrors.FailureFrom(Answer(404, R"({"code":"sku_taken"})")).has_value());
  CHECK_FALSE(kErrors.FailureFrom(Answer(404, R"({"code":7})")).has_value());
  CHECK_FALSE(kErrors.FailureFrom(Answer(404, R"({"code":"not_found","detail":{}})")).has_value());
  CHECK_FALSE(kErrors.FailureFrom(Answer(404, "Not Found")).has_value());
  CHECK_FALSE(kErrors.FailureFrom(Answer(404, "")).has_value());
}
