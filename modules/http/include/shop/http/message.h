#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shop::http {

/// Header fields, looked up case-insensitively, in the order they were added.
class Headers {
 public:
  struct Field {
    std::string name;
    std::string value;
  };

  /// The first value of `name`, or empty when absent.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;
  void Add(std::string name, std::string value) { fields_.push_back({std::move(name), std::move(value)}); }
  /// Replaces every field named `name` with one.
  void Set(std::string_view name, std::string value);
  /// Removes every field `drop(field)` is true for, keeping the order of the others.
  template <class Pred>
  void EraseIf(Pred drop) {
    std::erase_if(fields_, drop);
  }
  void Reserve(std::size_t n) { fields_.reserve(n); }
  /// Removes every field, keeping the memory for the next message's.
  void Clear() { fields_.clear(); }
  std::size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }

  auto begin() const { return fields_.begin(); }
  auto end() const { return fields_.end(); }

 private:
  std::vector<Field> fields_;
};

struct Request {
  std::string method;  ///< as sent, e.g. "GET"
  std::string target;  ///< origin-form: path plus optional `?query`
  Headers headers;
  std::string body;
  std::string peer;  ///< the client's address as the transport saw it (no port); empty when unknown

  std::string_view Path() const;
  std::string_view Query() const;  ///< without the '?', empty when absent
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
};

/// A JSON response (`application/json`) with an already serialised body.
Response JsonResponse(int status, std::string body);

/// An RFC 9457 problem response: `application/problem+json` with type, title, status, detail, code.
Response Problem(int status, std::string_view code, std::string_view detail);

/// The standard reason phrase, e.g. "Not Found".
std::string_view ReasonPhrase(int status);

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace shop::http
