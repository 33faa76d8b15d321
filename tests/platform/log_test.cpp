#include "shop/platform/log.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <string>


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

TEST_CASE("a field named like the line's own members does not repeat their names") {
  // What one Write puts on stdout, read back through a pipe.
  auto line = [](std::initializer_list<shop::log::Field> fields) {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const int saved = ::dup(STDOUT_FILENO);
    REQUIRE(::dup2(pipe_fds[1], STDOUT_FILENO) == STDOUT_FILENO);
    shop::log::Write(shop::log::Level::kError, "instance joined", fields);
    REQUIRE(::dup2(saved, STDOUT_FILENO) == STDOUT_FILENO);
    ::close(saved);
    ::close(pipe_fds[1]);
    std::string out;
    char buffer[4096];
    for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) out.append(buffer, static_cast<std::size_t>(n));
    ::close(pipe_fds[0]);
    return out;
  };
  shop::log::Configure("gateway", shop::log::Level::kInfo);
  const std::string out = line({{"service", "products"}, {"msg", "x"}, {"time", 1}, {"level", "y"}, {"url", "u"}});
  CHECK(out.find(R"("service":"gateway")") != std::string::npos);
  CHECK(out.find(R"("service":"products")") == std::string::npos);
  CHECK(out.find(R"("field_service":"products")") != std::string::npos);
  CHECK(out.find(R"("field_msg":"x")") != std::string::npos);
  CHECK(out.find(R"("field_time":1)") != std::string::npos);
  CHECK(out.find(R"("field_level":"y")") != std::string::npos);
  CHECK(out.find(R"("url":"u")") != std::string::npos);
  CHECK(out.find(R"("msg":"instance joined")") != std::string::npos);
}
