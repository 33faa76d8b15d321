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
