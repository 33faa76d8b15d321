#include "shop/platform/log.h"

#include <doctest/doctest.h>


TEST_CASE("levels parse and filter") {
  shop::log::Level level{};
  CHECK(shop::log::ParseLevel("warn", level));
  CHECK(level == shop::log::Level::kWarn);
  CHECK_FALSE(shop::log::ParseLevel("loud", level));
  shop::log::Configure("test", shop::log::Level::kWarn);
  CHECK_FALSE(shop::log::Enabled(shop::log::Level::kInfo));
  CHECK(shop::log::Enabled(shop::log::Level::kError));
}

TEST_CASE("a number field is written with three decimals") {
  auto text = [](double v) { return std::string(shop::log::Field("k", v).value()); };
  CHECK(text(0.0) == "0.000");
  CHECK(text(0.0004) == "0.000");
  CHECK(text(0.0125) == "0.013");
  CHECK(text(1.5) == "1.500");
  CHECK(text(12345.6789) == "12345.679");
  CHECK(text(-2.25) == "-2.250");
  CHECK(text(-0.0004) == "0.000");
  CHECK(text(1e20) == "100000000000000000000.000");
}
