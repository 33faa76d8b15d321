#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace shop {

/// Keyset pagination request: at most `limit` items after (or, for newest-first lists, below) `after`.
struct PageRequest {
  static constexpr int kDefaultLimit = 20;
  static constexpr int kMaxLimit = 100;

  int limit = kDefaultLimit;
  std::optional<std::int64_t> after;
};

/// One page of a list; `next_after` is set when more items follow.
template <class T>
struct Page {
  std::vector<T> items;
  std::optional<std::int64_t> next_after;
};

}  // namespace shop
