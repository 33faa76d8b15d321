#include "shop/json/reader.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace shop::json {

std::expected<boost::json::object, DecodeError> ParseObject(std::string_view body) {
  boost::json::parse_options options;
  options.max_depth = 32;
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(body, ec, {}, options);
  if (ec) return std::unexpected(DecodeError{DecodeError::Kind::kMalformed, "request body is not valid JSON: " + ec.message()});
  if (!value.is_object()) {
    return std::unexpected(DecodeError{DecodeError::Kind::kInvalid, "request body must be a JSON object"});
  }
  return std::move(value.as_object());
}

ObjectReader::ObjectReader(const boost::json::object& object, Strictness strictness, std::string prefix)
    : object_(object), strictness_(strictness), prefix_(std::move(prefix)) {}

void ObjectReader::Reject(std::string_view key, std::string_view problem) {
  if (!error_) error_ = prefix_ + std::string(key) + ": " + std::string(problem);
}

const boost::json::value* ObjectReader::Field(std::string_view key, bool required) {
  if (strictness_ == Strictness::kRejectUnknown) seen_.push_back(key);
  const boost::json::value* v = object_.if_contains(key);
  if (!v && required) Reject(key, "is required");
  return v;
}

std::optional<std::string> ObjectReader::String(std::string_view key, bool required) {
  const boost::json::value* v = Field(key, required);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    Reject(key, "must be a string");
    return std::nullopt;
  }
  return std::string(v->get_string());
}

std::optional<std::int64_t> ObjectReader::Int(std::string_view key, bool required) {
  const boost::json::value* v = Field(key, required);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) {
    Reject(key, "is out of range");
    return std::nullopt;
  }
  Reject(key, v->is_double() ? "must be an integer (is out of range or has a fraction)" : "must be an integer");
  return std::nullopt;
}

const boost::json::array* ObjectReader::Array(std::string_view key, bool required) {
  const boost::json::value* v = Field(key, required);
  if (!v) return nullptr;
  if (!v->is_array()) {
    Reject(key, "must be an array");
    return nullptr;
  }
  return &v->get_array();
}

std::optional<std::int64_t> ObjectReader::NullableInt(std::string_view key, bool required) {
  const boost::json::value* v = object_.if_contains(key);
  if (v && v->is_null()) {
    if (strictness_ == Strictness::kRejectUnknown) seen_.push_back(key);
    return std::nullopt;
  }
  return Int(key, required);
}

std::optional<DecodeError> ObjectReader::Finish() {
  if (!error_ && strictness_ == Strictness::kRejectUnknown) {
    for (const auto& member : object_) {
      if (std::ranges::find(seen_, std::string_view(member.key())) == seen_.end()) {
        Reject(std::string_view(member.key()), "is not a known field");
        break;
      }
    }
  }
  if (error_) return DecodeError{DecodeError::Kind::kInvalid, *error_};
  return std::nullopt;
}

const boost::json::object* AsObject(const boost::json::value& value) { return value.if_object(); }

}  // namespace shop::json
