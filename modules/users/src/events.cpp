#include "shop/users/events.h"

#include <boost/json.hpp>

namespace shop::users {

events::Event UserRegisteredEvent(const User& user) {
  const boost::json::object data{{"user_id", user.id}, {"role", RoleName(user.role)}, {"created_at", user.created_at}};
  return events::MakeEvent("users", std::string(kUserRegistered), boost::json::serialize(data));
}

}  // namespace shop::users
