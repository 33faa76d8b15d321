#pragma once

#include <sodium.h>

#include <array>
#include <string>
#include <vector>

#include "shop/users/api.h"

namespace shop::users {

/// The registered service clients, holding only SHA-256 digests of their secrets.
class ServiceClients {
 public:
  /// Throws std::invalid_argument when an id is not auth::IsServiceName, a secret not
  /// IsServiceSecret, or an id appears twice.
  explicit ServiceClients(const std::vector<ClientCredentials>& clients);

  /// True when `client` names a registered client and its secret. Takes the same time for an
  /// unknown id as for a wrong secret, and compares digests in constant time (sodium_memcmp).
  bool Authenticate(const ClientCredentials& client) const;

 private:
  using Digest = std::array<unsigned char, crypto_hash_sha256_BYTES>;
  struct Entry {
    std::string id;
    Digest secret_digest;
  };
  static Digest DigestOf(std::string_view secret);

  std::vector<Entry> entries_;
  Digest decoy_{};  // compared against when the id is unknown, so that case costs the same
};

}  // namespace shop::users
