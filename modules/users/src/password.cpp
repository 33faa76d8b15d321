#include "password.h"

#include <sodium.h>

#include <new>
#include <stdexcept>

#include "shop/core/random.h"

namespace shop::users {

PasswordHasher::PasswordHasher(unsigned long long ops_limit, std::size_t mem_limit)
    : ops_limit_(ops_limit), mem_limit_(mem_limit) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  if (ops_limit < crypto_pwhash_argon2id_OPSLIMIT_MIN || ops_limit > crypto_pwhash_argon2id_OPSLIMIT_MAX) {
    throw std::invalid_argument("argon2id ops limit must be from " +
                                std::to_string(crypto_pwhash_argon2id_OPSLIMIT_MIN) + " to " +
                                std::to_string(crypto_pwhash_argon2id_OPSLIMIT_MAX));
  }
  if (mem_limit < crypto_pwhash_argon2id_MEMLIMIT_MIN || mem_limit > crypto_pwhash_argon2id_MEMLIMIT_MAX) {
    throw std::invalid_argument("argon2id memory limit must be from " +
                                std::to_string(crypto_pwhash_argon2id_MEMLIMIT_MIN) + " to " +
                                std::to_string(crypto_pwhash_argon2id_MEMLIMIT_MAX) + " bytes");
  }
  // Same costs as real hashes, so verifying against it takes as long; the password is random and
  // thrown away, so nothing verifies against it.
  decoy_hash_ = Hash(RandomHex(32));
}

std::string PasswordHasher::Hash(std::string_view password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops_limit_, mem_limit_,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    // The only failure left once the costs are in bounds is that the memory could not be had.
    throw std::bad_alloc();
  }
  return out;
}

bool PasswordHasher::Verify(const std::string& hash, std::string_view password) const {
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool PasswordHasher::VerifyDecoy(std::string_view password) const {
  Verify(decoy_hash_, password);
  return false;
}

}  // namespace shop::users
