#include "shop/core/random.h"

#include <sodium.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace shop {

std::string RandomHex(std::size_t bytes) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
  hex.pop_back();
  return hex;
}

std::string TimeOrderedId() {
  constexpr std::size_t kRandomBytes = 10;  // 80 bits, of which 6 give way to the version and variant
  constexpr std::size_t kIdsPerBlock = 64;
  thread_local std::array<unsigned char, kRandomBytes * kIdsPerBlock> block;
  thread_local std::size_t used = kIdsPerBlock;
  if (used == kIdsPerBlock) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    randombytes_buf(block.data(), block.size());
    used = 0;
  }
  const unsigned char* random = block.data() + kRandomBytes * used++;
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  std::array<unsigned char, 16> uuid{};
  for (int i = 0; i < 6; ++i) uuid[static_cast<std::size_t>(i)] = static_cast<unsigned char>(ms >> (40 - 8 * i));
  for (std::size_t i = 0; i < kRandomBytes; ++i) uuid[6 + i] = random[i];
  uuid[6] = static_cast<unsigned char>(0x70 | (uuid[6] & 0x0f));  // version 7
  uuid[8] = static_cast<unsigned char>(0x80 | (uuid[8] & 0x3f));  // variant 10
  std::string hex(33, '\0');
  sodium_bin2hex(hex.data(), hex.size(), uuid.data(), uuid.size());
  hex.pop_back();
  return hex;
}

}  // namespace shop
