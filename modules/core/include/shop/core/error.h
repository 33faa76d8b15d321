#pragma once

#include <expected>
#include <string>
#include <utility>

namespace shop {

/// A domain failure: a module's error code plus a human-readable detail for the client.
/// Each module instantiates it with its own enum (`users::Error = shop::Failure<users::Errc>`).
template <class Code>
struct Failure {
  Code code;
  std::string detail;

  Failure(Code c) : code(c) {}  // NOLINT(google-explicit-constructor): lets `return Errc::kX;` read naturally
  Failure(Code c, std::string d) : code(c), detail(std::move(d)) {}
};

/// Shorthand for returning a failure from a function whose result is `std::expected<T, Failure<Code>>`.
template <class Code>
std::unexpected<Failure<Code>> Fail(Code code, std::string detail = {}) {
  return std::unexpected(Failure<Code>(code, std::move(detail)));
}

}  // namespace shop
