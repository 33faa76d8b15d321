#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace shop::users {

/// Argon2id password hashing (libsodium), with a decoy for accounts that do not exist.
class PasswordHasher {
 public:
  /// Throws std::invalid_argument when the costs are outside libsodium's bounds for argon2id.
  PasswordHasher(unsigned long long ops_limit, std::size_t mem_limit);

  /// A salted argon2id hash in the PHC string format (`$argon2id$v=19$m=...`).
  std::string Hash(std::string_view password) const;

  /// True when `password` matches `hash`; the comparison runs in constant time.
  bool Verify(const std::string& hash, std::string_view password) const;

  /// Does the work of Verify against a hash nobody can match, so that an unknown account costs
  /// as much as a wrong password. Always false.
  bool VerifyDecoy(std::string_view password) const;

 private:
  unsigned long long ops_limit_;
  std::size_t mem_limit_;
  std::string decoy_hash_;
};

}  // namespace shop::users
