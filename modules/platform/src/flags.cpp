#include "shop/platform/flags.h"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace shop {

Flags::Flags(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}

void Flags::Add(std::string name, std::string value_name, std::string help, std::string default_value,
                std::string env) {
  std::string value = default_value;
  if (!env.empty()) {
    if (const char* from_env = std::getenv(env.c_str()); from_env && *from_env) value = from_env;
  }
  flags_.push_back({std::move(name), std::move(value_name), std::move(help), std::move(default_value),
                    std::move(env), std::move(value)});
}

Flags::Flag* Flags::Find(std::string_view name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::expected<void, std::string> Flags::Parse(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    if (!arg.starts_with("--")) return std::unexpected("unexpected argument '" + std::string(arg) + "'");
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    Flag* flag = Find(name);
    if (!flag) return std::unexpected("unknown flag --" + std::string(name) + " (see --help)");
    if (!has_value) {
      if (i + 1 >= argc) return std::unexpected("flag --" + std::string(name) + " needs a value");
      value = argv[++i];
    }
    flag->value = std::move(value);
  }
  return {};
}

std::string Flags::Usage() const {
  std::string out = "Usage: " + program_ + " [flags]\n\n" + summary_ + "\n\nFlags:\n";
  for (const Flag& f : flags_) {
    std::string left = "  --" + f.name + " " + f.value_name;
    if (left.size() < 28) left.resize(28, ' ');
    out += left + " " + f.help;
    if (!f.default_value.empty()) out += " (default: " + f.default_value + ")";
    if (!f.env.empty()) out += " [env " + f.env + "]";
    out += '\n';
  }
  out += "  --help                     print this help and exit\n";
  return out;
}

bool Flags::Declared(std::string_view name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return true;
  }
  return false;
}

const std::string& Flags::Get(std::string_view name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return f.value;
  }
  throw std::logic_error("undeclared flag --" + std::string(name));
}

std::expected<std::int64_t, std::string> Flags::GetInt(std::string_view name, std::int64_t min,
                                                       std::int64_t max) const {
  const std::string& text = Get(name);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return std::unexpected("flag --" + std::string(name) + " must be an integer from " + std::to_string(min) +
                           " to " + std::to_string(max) + ", got '" + text + "'");
  }
  return v;
}

}  // namespace shop
