#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "shop/sql/database.h"
#include "shop/users/api.h"

namespace shop::users {

/// A user row as it is written: fields already validated and normalised by the service.
struct UserRecord {
  std::string email;
  std::string name;
  Role role = Role::kCustomer;
  std::string password_hash;
  std::string created_at;
};

/// What signing in needs to know about an account.
struct Credentials {
  Principal principal;
  std::string password_hash;
};

/// The users table of `users.db`. All of the module's SQL lives here.
class Store {
 public:
  explicit Store(sql::Database& db) : db_(db) {}

  /// Adds a user; kEmailTaken when a user with this email already exists.
  std::expected<User, Error> Insert(const UserRecord& record);

  /// The user with this id, if any.
  std::optional<User> FindById(std::int64_t id);

  /// The account with this (normalised) email, if any.
  std::optional<Credentials> FindCredentials(std::string_view email);

 private:
  sql::Database& db_;
};

}  // namespace shop::users
