// The central configuration: keys declared once, snapshots, central values over starting values,
// invalid values skipped, subscribers, and the single binary's file store.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "shop/config/config.h"
#include "temp_dir.h"

namespace {

using namespace shop::config;

TEST_CASE("every key of the contract is declared once, sorted, central, with its default valid") {
  std::vector<std::string_view> central;
  std::vector<std::string_view> all;
  for (const KeySpec& spec : Keys()) {
    all.push_back(spec.key);
    if (spec.central) central.push_back(spec.key);
    CHECK_FALSE(Check(spec, spec.default_value).has_value());
  }
  CHECK(central == std::vector<std::string_view>{"auth.token_ttl_seconds", "client.breaker.failures",
                                                 "client.timeout_ms", "edge.rate_limit.burst", "edge.rate_limit.rps",
                                                 "log.level"});
  CHECK(std::ranges::is_sorted(all));
  CHECK(FindKey("nope") == nullptr);
}

TEST_CASE("process settings are declared beside them, set at start only, never centrally") {
  const KeySpec* threads = FindKey("server.handler_threads");
  REQUIRE(threads != nullptr);
  CHECK_FALSE(threads->central);
  Config config({{"server.handler_threads", std::int64_t{32}}, {"client.max_attempts", std::int64_t{1}}});
  CHECK(config.Current()->settings.handler_threads == 32);
  CHECK(config.Current()->settings.client_max_attempts == 1);
  CHECK(config.Current()->settings.client_connect_timeout.count() == 500);
  CHECK_FALSE(config.ApplyCentral("server.handler_threads", CentralValue{std::int64_t{4}, 1}));
  config.ResetCentral({{"client.max_attempts", {std::int64_t{5}, 2}}});
  CHECK(config.Current()->settings.handler_threads == 32);
  CHECK(config.Current()->settings.client_max_attempts == 1);
  CHECK_THROWS_AS(Config({{"server.handler_threads", std::int64_t{-1}}}), std::invalid_argument);
}

TEST_CASE("values of the wrong type or out of range are refused with the reason") {
  const KeySpec& level = *FindKey("log.level");
  CHECK_FALSE(Check(level, std::string("debug")).has_value());
  CHECK(Check(level, std::string("verbose")).value().find("one of") != std::string::npos);
  CHECK(Check(level, std::int64_t{1}).value() == "must be a string");

  const KeySpec& rps = *FindKey("edge.rate_limit.rps");
  CHECK_FALSE(Check(rps, 2.5).has_value());
  CHECK_FALSE(Check(rps, std::int64_t{7}).has_value());  // an integer is a number
  CHECK(Check(rps, -0.5).has_value());
  CHECK(Check(rps, 1000000.5).has_value());
  CHECK(Check(rps, std::string("5")).value() == "must be a number");

  const KeySpec& ttl = *FindKey("auth.token_ttl_seconds");
  CHECK_FALSE(Check(ttl, std::int64_t{60}).has_value());
  CHECK_FALSE(Check(ttl, std::int64_t{86400}).has_value());
  CHECK(Check(ttl, std::int64_t{59}).has_value());
  CHECK(Check(ttl, std::int64_t{86401}).has_value());
  CHECK(Check(ttl, 120.0).value() == "must be an integer");  // no silent truncation
}

TEST_CASE("starting values override defaults, central values override both, removal goes back") {
  Config config({{"client.timeout_ms", std::int64_t{1500}}});
  auto s = config.Current();
  CHECK(s->settings.client_timeout.count() == 1500);
  CHECK_FALSE(s->Find("client.timeout_ms").updated_at.has_value());

  CHECK(config.ApplyCentral("client.timeout_ms", CentralValue{std::int64_t{250}, 1700000000}));
  s = config.Current();
  CHECK(s->settings.client_timeout.count() == 250);
  CHECK(s->Find("client.timeout_ms").updated_at == 1700000000);

  CHECK(config.ApplyCentral("client.timeout_ms", std::nullopt));
  CHECK(config.Current()->settings.client_timeout.count() == 1500);
  CHECK_FALSE(config.Current()->Find("client.timeout_ms").updated_at.has_value());
}

TEST_CASE("an invalid starting value is refused at start naming the key") {
  CHECK_THROWS_WITH_AS(Config({{"log.level", std::string("loud")}}), doctest::Contains("log.level"),
                       std::invalid_argument);
  CHECK_THROWS_AS(Config({{"no.such.key", std::int64_t{1}}}), std::invalid_argument);
}

TEST_CASE("an invalid central value is skipped and the last good value stays") {
  Config config;
  REQUIRE(config.ApplyCentral("client.breaker.failures", CentralValue{std::int64_t{9}, 1}));
  const auto before = config.Current();
  CHECK_FALSE(config.ApplyCentral("client.breaker.failures", CentralValue{std::int64_t{0}, 2}));
  CHECK_FALSE(config.ApplyCentral("client.breaker.failures", CentralValue{std::string("many"), 3}));
  CHECK_FALSE(config.ApplyCentral("unknown.key", CentralValue{std::int64_t{1}, 4}));
  CHECK(config.Current() == before);  // not even a new snapshot
  CHECK(config.Current()->settings.breaker_failures == 9);

  // A full re-read with a bad entry keeps that key's last good value and applies the rest.
  config.ResetCentral({{"client.breaker.failures", {std::int64_t{-1}, 5}}, {"log.level", {std::string("warn"), 6}}});
  CHECK(config.Current()->settings.breaker_failures == 9);
  CHECK(config.Current()->settings.log_level == shop::log::Level::kWarn);
  // Keys absent from a full re-read go back to their starting value.
  config.ResetCentral({});
  CHECK(config.Current()->settings.breaker_failures == 5);
  CHECK(config.Current()->settings.log_level == shop::log::Level::kInfo);
}

TEST_CASE("subscribers get the current snapshot at once and every change after") {
  Config config;
  std::vector<double> seen;
  config.Subscribe([&](const Snapshot& s) { seen.push_back(s.settings.rate_limit_rps); });
  config.ApplyCentral("edge.rate_limit.rps", CentralValue{std::int64_t{20}, 1});
  config.ApplyCentral("edge.rate_limit.rps", CentralValue{std::int64_t{20}, 1});  // same: no call
  config.ApplyCentral("edge.rate_limit.rps", CentralValue{0.5, 2});
  CHECK(seen == std::vector<double>{0, 20, 0.5});
  const auto s = config.Current();
  CHECK(s->generation == 3);
}

TEST_CASE("the file store keeps values across instances and skips what it cannot read") {
  shop::testing::TempDir dir;
  const std::string path = (dir.path() / "config.json").string();
  Config config;
  {
    FileStore store(path, config);
    CHECK(store.LoadAll().empty());
    CHECK(store.Put("log.level", {std::string("debug"), 10}));
    CHECK(store.Put("edge.rate_limit.rps", {2.5, 11}));
    CHECK(store.Remove("edge.rate_limit.rps"));
    CHECK(store.Put("client.timeout_ms", {std::int64_t{800}, 12}));
  }
  CHECK(config.Current()->settings.client_timeout.count() == 800);  // applied as written
  FileStore again(path, config);
  auto values = again.LoadAll();
  REQUIRE(values.size() == 2);
  CHECK(std::get<std::string>(values.at("log.level").value) == "debug");
  CHECK(std::get<std::int64_t>(values.at("client.timeout_ms").value) == 800);
  CHECK(values.at("client.timeout_ms").updated_at == 12);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

  // A damaged entry is left out, the others stay.
  std::ofstream(path) << R"({"log.level":{"value":"warn","updated_at":1},"client.timeout_ms":{"v":1}})";
  values = FileStore(path, config).LoadAll();
  CHECK(values.size() == 1);
  CHECK(values.contains("log.level"));
  // A file that is not JSON at all: starting values, nothing central.
  std::ofstream(path) << "{not json";
  CHECK(FileStore(path, config).LoadAll().empty());
  // Nor does a directory where the file should be.
  std::filesystem::remove(path);
  std::filesystem::create_directory(path);
  CHECK(FileStore(path, config).LoadAll().empty());
}

TEST_CASE("values are written as plain JSON: whole numbers without a fraction, others in their shortest form") {
  CHECK(ToJsonText(2.5) == "2.5");
  CHECK(ToJsonText(0.0) == "0");
  CHECK(ToJsonText(1000000.0) == "1000000");
  CHECK(ToJsonText(0.1) == "0.1");
  CHECK(ToJsonText(std::int64_t{42}) == "42");
  CHECK(ToJsonText(std::string("a\"b")) == R"("a\"b")");
}

TEST_CASE("stored values round-trip through their JSON form") {
  for (const Value& v : {Value(std::string("error")), Value(2.5), Value(std::int64_t{42})}) {
    auto back = ParseCentralValue(FormatCentralValue({v, 99}));
    REQUIRE(back.has_value());
    CHECK(back->value == v);
    CHECK(back->updated_at == 99);
  }
  CHECK_FALSE(ParseCentralValue("[]").has_value());
  CHECK_FALSE(ParseCentralValue(R"({"value":true,"updated_at":1})").has_value());
  CHECK_FALSE(ParseCentralValue(R"({"value":1})").has_value());
  // updated_at must be a time RFC 3339 can write.
  CHECK_FALSE(ParseCentralValue(R"({"value":1,"updated_at":-1})").has_value());
  CHECK_FALSE(ParseCentralValue(R"({"value":1,"updated_at":253402300800})").has_value());
  CHECK(ParseCentralValue(R"({"value":1,"updated_at":253402300799})").has_value());
}

}  // namespace
