#pragma once

#include <cstddef>
#include <string>

namespace shop {

/// `bytes` bytes from the operating system's CSPRNG, hex-encoded (2 * bytes characters).
std::string RandomHex(std::size_t bytes);

/// A unique id that sorts by creation time: the layout of an RFC 9562 UUIDv7 (48 bits of Unix
/// milliseconds, version 7, 74 random bits, variant 10) as 32 lowercase hex digits, no dashes.
/// Keys made of them land at the right edge of a B-tree index instead of on a random page, so
/// inserting one dirties (and reads) one hot page instead of a cold one. The random bits come
/// from the OS CSPRNG in blocks per thread (one getrandom per 64 ids, not per id).
std::string TimeOrderedId();

}  // namespace shop
