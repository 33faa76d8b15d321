#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace shop {

enum class Role { kCustomer, kAdmin };

/// Who is calling: established by the transport from a verified token, trusted by the domain.
struct Principal {
  std::int64_t user_id = 0;
  Role role = Role::kCustomer;
  /// The bearer token the caller proved this with, when there is one. In-process modules ignore
  /// it; a module's remote client presents it to the service it calls on the caller's behalf.
  std::string credential;

  bool IsAdmin() const { return role == Role::kAdmin; }
  /// True when this caller may see or act on something owned by `owner_id`.
  bool MayAccess(std::int64_t owner_id) const { return IsAdmin() || user_id == owner_id; }
};

constexpr std::string_view RoleName(Role role) { return role == Role::kAdmin ? "admin" : "customer"; }

}  // namespace shop
