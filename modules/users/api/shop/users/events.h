#pragma once

#include "shop/events/events.h"
#include "shop/users/api.h"

/// The users module's domain events (PLATFORM.md "Events"): each type's data mapping, written once.
namespace shop::users {

inline constexpr std::string_view kUserRegistered = "shop.users.user_registered.v1";

/// `user_registered`: data `{"user_id","role","created_at"}` of a new account (a registration, or
/// the admin created at start-up).
events::Event UserRegisteredEvent(const User& user);

}  // namespace shop::users
