#include "shop/platform/flags.h"

#include <doctest/doctest.h>

#include <cstdlib>

TEST_CASE("flags take values in both forms, defaults otherwise") {
  shop::Flags flags("prog", "summary");
  flags.Add("port", "PORT", "port", "8080");
  flags.Add("data-dir", "DIR", "dir", "./data");
  const char* argv[] = {"prog", "--port", "9000", "--data-dir=/tmp/x"};
  REQUIRE(flags.Parse(4, argv).has_value());
  CHECK(flags.Get("port") == "9000");
  CHECK(flags.Get("data-dir") == "/tmp/x");
  CHECK(flags.GetInt("port", 0, 65535).value() == 9000);
}

TEST_CASE("the environment overrides the default, the command line overrides both") {
  ::setenv("SHOP_TEST_FLAG_PORT", "7000", 1);
  shop::Flags flags("prog", "summary");
  flags.Add("port", "PORT", "port", "8080", "SHOP_TEST_FLAG_PORT");
  const char* none[] = {"prog"};
  REQUIRE(flags.Parse(1, none).has_value());
  CHECK(flags.Get("port") == "7000");
  const char* argv[] = {"prog", "--port=1"};
  REQUIRE(flags.Parse(2, argv).has_value());
  CHECK(flags.Get("port") == "1");
  ::unsetenv("SHOP_TEST_FLAG_PORT");
}

TEST_CASE("unknown flags, missing values and bad numbers are clear errors") {
  shop::Flags flags("prog", "summary");
  flags.Add("port", "PORT", "port", "8080");
  const char* unknown[] = {"prog", "--nope", "1"};
  CHECK(flags.Parse(3, unknown).error() == "unknown flag --nope (see --help)");
  const char* missing[] = {"prog", "--port"};
  CHECK(flags.Parse(2, missing).error() == "flag --port needs a value");
  const char* bad[] = {"prog", "--port", "70000"};
  REQUIRE(flags.Parse(3, bad).has_value());
  CHECK_FALSE(flags.GetInt("port", 0, 65535).has_value());
  const char* help[] = {"prog", "--help"};
  REQUIRE(flags.Parse(2, help).has_value());
  CHECK(flags.help_requested());
  CHECK(flags.Usage().find("--port PORT") != std::string::npos);
}
