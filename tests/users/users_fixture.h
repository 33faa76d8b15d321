#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "shop/auth/token.h"
#include "shop/sql/database.h"
#include "shop/users/users.h"
#include "temp_dir.h"
#include "test_database.h"

namespace shop::users::testing {

/// The cheapest argon2id libsodium allows (1 pass, 8 KiB), so tests do not wait on hashing.
inline ServiceOptions FastOptions() {
  ServiceOptions options;
  options.token_ttl = std::chrono::seconds(600);
  options.pwhash_ops = 1;
  options.pwhash_mem = 8192;
  return options;
}

/// A users service over a fresh users.db in a temporary directory.
struct ServiceFixture {
  explicit ServiceFixture(ServiceOptions options = FastOptions())
      : db(sql::Database::Open({shop::testing::FreshDatabase(dir.path(), "users.db")}, EmbeddedMigrations())),
        key(auth::SigningKey::Generate()),
        service(MakeService(*db, key, options)) {}

  /// Registers a user that must be accepted.
  User MustRegister(std::string email, std::string name = "Test User", std::string password = "correct horse") {
    auto user = service->Register(NewUser{std::move(email), std::move(password), std::move(name)});
    if (!user) throw std::runtime_error("registration failed: " + user.error().detail);
    return *user;
  }

  /// How many rows the users table holds for this exact email.
  std::int64_t CountEmail(std::string_view email) {
    auto stmt = db->ThisThread().Prepare("SELECT count(*) FROM users WHERE email = ?");
    stmt.Bind(1, email);
    stmt.Step();
    return stmt.Int(0);
  }

  shop::testing::TempDir dir;
  std::unique_ptr<sql::Database> db;
  auth::SigningKey key;
  std::unique_ptr<Api> service;
};

/// The API's code for an error, so a failing check prints what came back.
inline std::string_view CodeName(Errc code) {
  switch (code) {
    case Errc::kValidationFailed:
      return "validation_failed";
    case Errc::kEmailTaken:
      return "email_taken";
    case Errc::kInvalidCredentials:
      return "invalid_credentials";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kUnauthenticated:
      return "unauthenticated";
    case Errc::kUnavailable:
      return "dependency_unavailable";
  }
  return "?";
}

/// "ok" for a value, else the error's code name.
template <class T>
std::string Outcome(const std::expected<T, Error>& result) {
  return result ? "ok" : std::string(CodeName(result.error().code));
}

/// The error's detail, empty for a value.
template <class T>
std::string Detail(const std::expected<T, Error>& result) {
  return result ? std::string() : result.error().detail;
}

/// Unpadded base64url (RFC 4648 section 5), for crafting tokens by hand.
inline std::string Base64Url(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(buffer >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (6 - bits)) & 0x3F];
  return out;
}

}  // namespace shop::users::testing
