#include "shop/json/reader.h"

#include <doctest/doctest.h>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

using shop::json::DecodeError;
using shop::json::ObjectReader;
using shop::json::ParseObject;
using Strictness = ObjectReader::Strictness;

TEST_CASE("malformed bodies are malformed, wrong shapes are invalid") {
  CHECK(ParseObject("").error().kind == DecodeError::Kind::kMalformed);
  CHECK(ParseObject("{").error().kind == DecodeError::Kind::kMalformed);
  CHECK(ParseObject("{} {}").error().kind == DecodeError::Kind::kMalformed);
  CHECK(ParseObject("\xff\xfe").error().kind == DecodeError::Kind::kMalformed);
  CHECK(ParseObject("{\"a\":\"\xc3\x28\"}").error().kind == DecodeError::Kind::kMalformed);  // invalid UTF-8
  CHECK(ParseObject(std::string(10000, '[')).error().kind == DecodeError::Kind::kMalformed);  // too deep
  CHECK(ParseObject("[1,2]").error().kind == DecodeError::Kind::kInvalid);
  CHECK(ParseObject("42").error().kind == DecodeError::Kind::kInvalid);
  CHECK(ParseObject("{\"a\":1}").has_value());
}

TEST_CASE("required, optional and typed fields") {
  auto obj = ParseObject(R"({"name":"x","n":5,"list":[1]})");
  REQUIRE(obj);
  ObjectReader r(*obj, Strictness::kRejectUnknown);
  CHECK(r.String("name") == "x");
  CHECK(r.Int("n") == 5);
  CHECK(r.Array("list")->size() == 1);
  CHECK_FALSE(r.Int("absent", false).has_value());
  CHECK_FALSE(r.Finish().has_value());
}

TEST_CASE("the first problem names its field") {
  auto check = [](std::string_view body, std::string_view expected) {
    auto obj = ParseObject(body);
    REQUIRE(obj);
    ObjectReader r(*obj, Strictness::kRejectUnknown);
    r.String("name");
    r.Int("n");
    auto error = r.Finish();
    REQUIRE(error.has_value());
    CHECK(error->kind == DecodeError::Kind::kInvalid);
    CHECK(error->detail == expected);
  };
  check(R"({"n":1})", "name: is required");
  check(R"({"name":1,"n":1})", "name: must be a string");
  check(R"({"name":"a","n":"1"})", "n: must be an integer");
  check(R"({"name":"a","n":1.5})", "n: must be an integer (is out of range or has a fraction)");
  check(R"({"name":"a","n":1e400})", "n: must be an integer (is out of range or has a fraction)");
  check(R"({"name":"a","n":99999999999999999999})", "n: must be an integer (is out of range or has a fraction)");
  check(R"({"name":"a","n":18446744073709551615})", "n: is out of range");
  check(R"({"name":"a","n":1,"extra":true})", "extra: is not a known field");
}

TEST_CASE("nested readers prefix their field names") {
  auto obj = ParseObject(R"({"q":"x"})");
  REQUIRE(obj);
  ObjectReader r(*obj, Strictness::kRejectUnknown, "items[3].");
  r.Int("quantity");
  CHECK(r.Finish()->detail == "items[3].quantity: is required");
}

TEST_CASE("a tolerant reader ignores fields nobody asked for, and still checks the ones it reads") {
  auto obj = ParseObject(R"({"name":"x","n":5,"added_in_a_later_version":{"deep":[1,2]}})");
  REQUIRE(obj);
  ObjectReader tolerant(*obj, Strictness::kIgnoreUnknown);
  CHECK(tolerant.String("name") == "x");
  CHECK(tolerant.Int("n") == 5);
  CHECK_FALSE(tolerant.Finish().has_value());

  ObjectReader strict(*obj, Strictness::kRejectUnknown);
  strict.String("name");
  strict.Int("n");
  REQUIRE(strict.Finish().has_value());

  ObjectReader typed(*obj, Strictness::kIgnoreUnknown);
  typed.String("n");
  typed.Int("missing");
  CHECK(typed.Finish()->detail == "n: must be a string");
}

TEST_CASE("nullable integers") {
  auto obj = ParseObject(R"({"a":null,"b":3,"c":"x"})");
  REQUIRE(obj);
  ObjectReader r(*obj, Strictness::kRejectUnknown);
  CHECK_FALSE(r.NullableInt("a").has_value());
  CHECK(r.NullableInt("b") == 3);
  CHECK(r.Finish()->detail == "c: is not a known field");
  ObjectReader missing(*obj, Strictness::kIgnoreUnknown);
  missing.NullableInt("z");
  CHECK(missing.Finish()->detail == "z: is required");
  ObjectReader wrong(*obj, Strictness::kIgnoreUnknown);
  wrong.NullableInt("c");
  CHECK(wrong.Finish()->detail == "c: must be an integer");
}
