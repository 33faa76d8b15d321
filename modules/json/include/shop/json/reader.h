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

/// Reads the fields of one untrusted JSON object: a required field that is missing or a field of the
/// wrong type is an error, and so, in kRejectUnknown mode, is a field nobody asked for (see Finish).
/// The first error wins and names the field.
class ObjectReader {
 public:
  /// What a field nobody asked for means. Every reader says which it is, at the place it is made:
  /// - kRejectUnknown for request bodies from public clients: API.md makes unknown fields a 400, so a
  ///   misspelt optional field is reported instead of silently doing nothing;
  /// - kIgnoreUnknown for whatever another service of this product sent: its answers, and the bodies
  ///   of internal requests. A newer minor version may add a field, and the services are deployed one
  ///   at a time, so a reader that refused it would turn the addition into an outage. A field a
  ///   reader must understand is therefore never an addition but a new version of the route.
  enum class Strictness { kRejectUnknown, kIgnoreUnknown };

  ObjectReader(const boost::json::object& object, Strictness strictness, std::string prefix = {});

  std::optional<std::string> String(std::string_view key, bool required = true);
  /// An integer; JSON numbers with a fraction or beyond int64 are type errors.
  std::optional<std::int64_t> Int(std::string_view key, bool required = true);
  const boost::json::array* Array(std::string_view key, bool required = true);
  /// An integer or null (nullopt); absent is an error only when required.
  std::optional<std::int64_t> NullableInt(std::string_view key, bool required = true);

  /// Records a validation error about `key` unless one is already recorded.
  void Reject(std::string_view key, std::string_view problem);
  /// nullopt when every field read was valid and, in kRejectUnknown mode, no other field is present;
  /// else the error.
  std::optional<DecodeError> Finish();
  bool ok() const { return !error_; }

 private:
  const boost::json::value* Field(std::string_view key, bool required);

  const boost::json::object& object_;
  Strictness strictness_;
  std::string prefix_;
  std::vector<std::string_view> seen_;
  std::optional<std::string> error_;
};

/// `value` as an object, or nullptr when it is not one (for array elements, read with an ObjectReader).
const boost::json::object* AsObject(const boost::json::value& value);

}  // namespace shop::json
