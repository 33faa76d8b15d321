#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace shop {

/// Command-line flags of the form `--name value` or `--name=value`, each with a default and, where
/// given, an environment variable that overrides the default (the command line overrides both).
class Flags {
 public:
  Flags(std::string program, std::string summary);

  /// Declares a flag that takes a value.
  void Add(std::string name, std::string value_name, std::string help, std::string default_value = {},
           std::string env = {});

  /// Parses argv; an error message names the offending flag. `--help`/`-h` sets help_requested().
  std::expected<void, std::string> Parse(int argc, const char* const* argv);

  bool help_requested() const { return help_requested_; }
  std::string Usage() const;

  const std::string& Get(std::string_view name) const;
  /// True when `--name` was declared.
  bool Declared(std::string_view name) const;
  /// The flag as an integer within [min, max], or a message saying what is wrong.
  std::expected<std::int64_t, std::string> GetInt(std::string_view name, std::int64_t min, std::int64_t max) const;

 private:
  struct Flag {
    std::string name, value_name, help, default_value, env, value;
  };
  Flag* Find(std::string_view name);

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

}  // namespace shop
