#pragma once

#include <cstddef>
#include <string>

namespace shop {

/// `bytes` bytes from the operating system's CSPRNG, hex-encoded (2 * bytes characters).
std::string RandomHex(std::size_t bytes);

}  // namespace shop
