#pragma once

#include <boost/json/fwd.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shop::json {

/// Why an untrusted body was rejected: not JSON at all, or JSON of the wrong shape.
struct DecodeError {
  enum class Kind { kMalformed, kInvalid };
  Kind kind;
  std::string detail;
};

/// Parses an untrusted request body that must be one JSON object. Rejects invalid UTF-8, nesting
/// deeper than 32, and anything after the object.
std::expected<boost::json::object, DecodeError> ParseObject(std::string_view body);

/// Reads the fields of one untrusted JSON object strictly: a required field that is missing, a
/// field of the wrong type, or a field nobody asked for (see Finish) is an error. The first
/// error wins and names the field.
class ObjectReader {
 public:
  explicit ObjectReader(const boost::json::object& object, std::string prefix = {});

  std::optional<std::string> String(std::string_view key, bool required = true);
  /// An integer; JSON numbers with a fraction or beyond int64 are type errors.
  std::optional<std::int64_t> Int(std::string_view key, bool required = true);
  const boost::json::array* Array(std::string_view key, bool required = true);

  /// Records a validation error about `key` unless one is already recorded.
  void Reject(std::string_view key, std::string_view problem);
  /// nullopt when every field was read and valid; else the error.
  std::optional<DecodeError> Finish();
  bool ok() const { return !error_; }

 private:
  const boost::json::value* Field(std::string_view key, bool required);

  const boost::json::object& object_;
  std::string prefix_;
  std::vector<std::string_view> seen_;
  std::optional<std::string> error_;
};

/// Decodes `value` as an object with ObjectReader semantics (for array elements).
const boost::json::object* AsObject(const boost::json::value& value);

}  // namespace shop::json
