#pragma once

#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>

#include "shop/core/page.h"

namespace shop {

/// A page as the API lists it, for any item type with a conversion of its own:
/// `{"items":[...],"next_after":ID or null}` (boost::json::value_from finds it through ADL).
template <class T>
void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const Page<T>& page) {
  boost::json::object& object = json.emplace_object();
  object.reserve(2);
  object.emplace("items", boost::json::value_from(page.items, json.storage()));
  if (page.next_after) {
    object.emplace("next_after", *page.next_after);
  } else {
    object.emplace("next_after", nullptr);
  }
}

}  // namespace shop
