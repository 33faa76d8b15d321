#include "shop/config/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "shop/core/text.h"

namespace shop::config {
namespace {

std::vector<KeySpec> MakeKeys() {
  std::vector<KeySpec> keys = {
      {.key = "log.level",
       .type = Type::kString,
       .default_value = std::string("info"),
       .allowed = {"debug", "info", "warn", "error"},
       .effect = "lowest level written, every process"},
      {.key = "edge.rate_limit.rps",
       .type = Type::kNumber,
       .default_value = 0.0,
       .min = 0,
       .max = 1000000,
       .effect = "requests per second allowed per client at the edge; 0 is off"},
      {.key = "edge.rate_limit.burst",
       .type = Type::kInteger,
       .default_value = std::int64_t{100},
       .min = 1,
       .max = 1000000,
       .effect = "requests a client may send at once before the rate applies"},
      {.key = "auth.token_ttl_seconds",
       .type = Type::kInteger,
       .default_value = std::int64_t{3600},
       .min = 60,
       .max = 86400,
       .effect = "lifetime of tokens issued from then on"},
      {.key = "client.timeout_ms",
       .type = Type::kInteger,
       .default_value = std::int64_t{3000},
       .min = 50,
       .max = 60000,
       .effect = "answer timeout of calls between services (split)"},
      {.key = "client.breaker.failures",
       .type = Type::kInteger,
       .default_value = std::int64_t{5},
       .min = 1,
       .max = 1000,
       .effect = "consecutive failures that open a breaker (split)"},
      // The process's own settings: the constants that are really settings, declared here once too.
      {.key = "client.connect_timeout_ms",
       .type = Type::kInteger,
       .default_value = std::int64_t{500},
       .min = 10,
       .max = 60000,
       .effect = "connect timeout of calls between services (split)",
       .central = false},
      {.key = "client.max_attempts",
       .type = Type::kInteger,
       .default_value = std::int64_t{3},
       .min = 1,
       .max = 10,
       .effect = "attempts of a call that is safe to repeat (split)",
       .central = false},
      {.key = "client.backoff_ms",
       .type = Type::kInteger,
       .default_value = std::int64_t{20},
       .min = 1,
       .max = 10000,
       .effect = "wait before a call's 2nd attempt; doubles, with jitter (split)",
       .central = false},
      {.key = "client.breaker.open_ms",
       .type = Type::kInteger,
       .default_value = std::int64_t{1000},
       .min = 10,
       .max = 600000,
       .effect = "how long an open breaker refuses calls before one probe (split)",
       .central = false},
      {.key = "orders.release_retry_ms",
       .type = Type::kInteger,
       .default_value = std::int64_t{2000},
       .min = 100,
       .max = 3600000,
       .effect = "how often releases of stock not yet confirmed are retried",
       .central = false},
      {.key = "server.handler_threads",
       .type = Type::kInteger,
       .default_value = std::int64_t{0},
       .min = 0,
       .max = 1024,
       .effect = "handler pool size; 0 runs handlers on the I/O threads",
       .central = false},
  };
  std::ranges::sort(keys, {}, &KeySpec::key);
  return keys;
}

Settings Derive(const std::vector<Entry>& entries) {
  Settings s;
  for (const Entry& e : entries) {
    const std::string_view key = e.spec->key;
    if (key == "log.level") {
      log::ParseLevel(std::get<std::string>(e.value), s.log_level);
    } else if (key == "edge.rate_limit.rps") {
      s.rate_limit_rps = std::get<double>(e.value);
    } else if (key == "edge.rate_limit.burst") {
      s.rate_limit_burst = std::get<std::int64_t>(e.value);
    } else if (key == "auth.token_ttl_seconds") {
      s.token_ttl = std::chrono::seconds(std::get<std::int64_t>(e.value));
    } else if (key == "client.timeout_ms") {
      s.client_timeout = std::chrono::milliseconds(std::get<std::int64_t>(e.value));
    } else if (key == "client.breaker.failures") {
      s.breaker_failures = static_cast<int>(std::get<std::int64_t>(e.value));
    } else if (key == "client.connect_timeout_ms") {
      s.client_connect_timeout = std::chrono::milliseconds(std::get<std::int64_t>(e.value));
    } else if (key == "client.max_attempts") {
      s.client_max_attempts = static_cast<int>(std::get<std::int64_t>(e.value));
    } else if (key == "client.backoff_ms") {
      s.client_backoff = std::chrono::milliseconds(std::get<std::int64_t>(e.value));
    } else if (key == "client.breaker.open_ms") {
      s.breaker_open_for = std::chrono::milliseconds(std::get<std::int64_t>(e.value));
    } else if (key == "orders.release_retry_ms") {
      s.release_retry_every = std::chrono::milliseconds(std::get<std::int64_t>(e.value));
    } else if (key == "server.handler_threads") {
      s.handler_threads = static_cast<int>(std::get<std::int64_t>(e.value));
    }
  }
  return s;
}

/// Integers are numbers too: `{"value": 5}` is a valid `edge.rate_limit.rps`.
Value Normalized(const KeySpec& spec, Value value) {
  if (spec.type == Type::kNumber) {
    if (const auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
  }
  return value;
}

}  // namespace

const std::vector<KeySpec>& Keys() {
  static const std::vector<KeySpec> keys = MakeKeys();
  return keys;
}

const KeySpec* FindKey(std::string_view key) {
  for (const KeySpec& spec : Keys()) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

std::optional<std::string> Check(const KeySpec& spec, const Value& value) {
  const Value v = Normalized(spec, value);
  switch (spec.type) {
    case Type::kString: {
      const auto* s = std::get_if<std::string>(&v);
      if (!s) return "must be a string";
      if (std::ranges::find(spec.allowed, std::string_view(*s)) == spec.allowed.end()) {
        std::string list;
        for (std::string_view a : spec.allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return "must be one of " + list;
      }
      return std::nullopt;
    }
    case Type::kNumber: {
      const auto* d = std::get_if<double>(&v);
      if (!d) return "must be a number";
      if (!std::isfinite(*d) || *d < spec.min || *d > spec.max) {
        return "must be between " + ToJsonText(spec.min) + " and " + ToJsonText(spec.max);
      }
      return std::nullopt;
    }
    case Type::kInteger: {
      const auto* i = std::get_if<std::int64_t>(&v);
      if (!i) return "must be an integer";
      if (static_cast<double>(*i) < spec.min || static_cast<double>(*i) > spec.max) {
        return "must be between " + std::to_string(static_cast<std::int64_t>(spec.min)) + " and " +
               std::to_string(static_cast<std::int64_t>(spec.max));
      }
      return std::nullopt;
    }
  }
  return "has an unknown type";
}

std::string ToJsonText(const Value& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return boost::json::serialize(boost::json::value(v));
        } else if constexpr (std::is_same_v<T, double>) {
          if (v == std::floor(v) && std::abs(v) < 1e15) return std::to_string(static_cast<std::int64_t>(v));
          // The shortest text that reads back as the same double ("2.5", where Boost.JSON writes "2.5E0").
          char text[32];
          const auto [end, ec] = std::to_chars(text, text + sizeof text, v);
          return ec == std::errc() ? std::string(text, end) : boost::json::serialize(boost::json::value(v));
        } else {
          return std::to_string(v);
        }
      },
      value);
}

const Entry& Snapshot::Find(std::string_view key) const {
  for (const Entry& e : entries) {
    if (e.spec->key == key) return e;
  }
  throw std::out_of_range("no configuration key " + std::string(key));
}

Config::Config(std::map<std::string, Value, std::less<>> starting) {
  for (auto& [key, value] : starting) {
    const KeySpec* spec = FindKey(key);
    if (!spec) throw std::invalid_argument("unknown configuration key " + key);
    if (auto problem = Check(*spec, value)) throw std::invalid_argument(key + " " + *problem);
    value = Normalized(*spec, value);
  }
  starting_ = std::move(starting);
  std::lock_guard lock(write_mu_);
  PublishLocked({});
}

void Config::PublishLocked(std::map<std::string, CentralValue, std::less<>> central) {
  auto next = std::make_shared<Snapshot>();
  const auto previous = current_.load(std::memory_order_acquire);
  next->generation = previous ? previous->generation + 1 : 1;
  for (const KeySpec& spec : Keys()) {
    Entry entry{.spec = &spec, .value = spec.default_value, .updated_at = std::nullopt};
    if (auto it = starting_.find(spec.key); it != starting_.end()) entry.value = it->second;
    if (auto it = central.find(spec.key); it != central.end()) {
      entry.value = it->second.value;
      entry.updated_at = it->second.updated_at;
    }
    next->entries.push_back(std::move(entry));
  }
  next->settings = Derive(next->entries);
  central_ = std::move(central);
  current_.store(next, std::memory_order_release);
  for (const Listener& listener : listeners_) listener(*next);
}

void Config::Subscribe(Listener listener) {
  std::lock_guard lock(write_mu_);
  listener(*current_.load(std::memory_order_acquire));
  listeners_.push_back(std::move(listener));
}

bool Config::ApplyCentral(std::string_view key, std::optional<CentralValue> value) {
  const KeySpec* spec = FindKey(key);
  if (!spec || !spec->central) {
    log::Write(log::Level::kWarn, "configuration value skipped",
               {{"key", key}, {"reason", spec ? "not a central key" : "unknown key"}});
    return false;
  }
  if (value) {
    if (auto problem = Check(*spec, value->value)) {
      log::Write(log::Level::kWarn, "configuration value skipped",
                 {{"key", key}, {"value", ToJsonText(value->value)}, {"reason", *problem}});
      return false;
    }
    value->value = Normalized(*spec, value->value);
  }
  std::lock_guard lock(write_mu_);
  auto central = central_;
  auto it = central.find(key);
  if (value) {
    if (it != central.end() && it->second.value == value->value && it->second.updated_at == value->updated_at) {
      return true;
    }
    central.insert_or_assign(std::string(key), *value);
  } else {
    if (it == central.end()) return true;
    central.erase(it);
  }
  PublishLocked(std::move(central));
  log::Write(log::Level::kInfo, "configuration changed",
             {{"key", key}, {"value", value ? ToJsonText(value->value) : std::string("(starting value)")}});
  return true;
}

void Config::ResetCentral(const std::map<std::string, CentralValue, std::less<>>& values) {
  std::map<std::string, CentralValue, std::less<>> central;
  for (const auto& [key, value] : values) {
    const KeySpec* spec = FindKey(key);
    std::optional<std::string> problem = !spec           ? std::optional<std::string>("unknown key")
                                         : !spec->central ? std::optional<std::string>("not a central key")
                                                          : Check(*spec, value.value);
    if (problem) {
      log::Write(log::Level::kWarn, "configuration value skipped", {{"key", key}, {"reason", *problem}});
      // The last good value stays: keep what was in force for this key.
      std::lock_guard lock(write_mu_);
      if (auto it = central_.find(key); it != central_.end()) central.insert(*it);
      continue;
    }
    central.insert_or_assign(key, CentralValue{Normalized(*spec, value.value), value.updated_at});
  }
  std::lock_guard lock(write_mu_);
  bool same = central.size() == central_.size();
  for (auto a = central.begin(), b = central_.begin(); same && a != central.end(); ++a, ++b) {
    same = a->first == b->first && a->second.value == b->second.value && a->second.updated_at == b->second.updated_at;
  }
  if (!same) PublishLocked(std::move(central));
}

std::optional<CentralValue> ParseCentralValue(std::string_view json_text) {
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(json_text, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  const auto& object = parsed.as_object();
  const auto* value = object.if_contains("value");
  const auto* updated = object.if_contains("updated_at");
  // A time RFC 3339 can write: years 1970 to 9999.
  if (!value || !updated || !updated->is_int64() || updated->as_int64() < 0 || updated->as_int64() > 253402300799) {
    return std::nullopt;
  }
  CentralValue out;
  out.updated_at = updated->as_int64();
  if (value->is_string()) {
    out.value = std::string(value->as_string());
  } else if (value->is_int64()) {
    out.value = value->as_int64();
  } else if (value->is_double()) {
    out.value = value->as_double();
  } else {
    return std::nullopt;
  }
  return out;
}

std::string FormatCentralValue(const CentralValue& value) {
  return R"({"value":)" + ToJsonText(value.value) + R"(,"updated_at":)" + std::to_string(value.updated_at) + "}";
}

FileStore::FileStore(std::string path, Config& config) : path_(std::move(path)), config_(config) {}

std::map<std::string, CentralValue, std::less<>> FileStore::LoadAll() {
  std::lock_guard lock(mu_);
  return LoadLocked();
}

std::map<std::string, CentralValue, std::less<>> FileStore::LoadLocked() {
  std::map<std::string, CentralValue, std::less<>> values;
  std::string text;
  try {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return values;  // no file yet: nothing set centrally
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception& e) {  // e.g. a directory where the file should be
    log::Write(log::Level::kError, "configuration file unreadable; using starting values",
               {{"path", path_}, {"error", e.what()}});
    return values;
  }
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(text, ec);
  if (ec || !parsed.is_object()) {
    log::Write(log::Level::kError, "configuration file unreadable; using starting values",
               {{"path", path_}, {"error", ec ? ec.message() : std::string("not a JSON object")}});
    return values;
  }
  for (const auto& [key, stored] : parsed.as_object()) {
    auto value = ParseCentralValue(boost::json::serialize(stored));
    if (!value) {
      log::Write(log::Level::kWarn, "configuration value skipped",
                 {{"key", std::string_view(key)}, {"reason", "not {\"value\",\"updated_at\"}"}});
      continue;
    }
    values.emplace(std::string(key), std::move(*value));
  }
  return values;
}

bool FileStore::WriteLocked(const std::map<std::string, CentralValue, std::less<>>& values) {
  std::string text = "{";
  for (const auto& [key, value] : values) {
    if (text.size() > 1) text += ",\n ";
    text += boost::json::serialize(boost::json::value(key)) + ":" + FormatCentralValue(value);
  }
  text += "}\n";
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  for (std::string_view rest = text; ok && !rest.empty();) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    ok = n > 0;
    if (ok) rest.remove_prefix(static_cast<std::size_t>(n));
  }
  ok = ok && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  ok = ok && std::rename(tmp.c_str(), path_.c_str()) == 0;
  if (!ok) {
    log::Write(log::Level::kError, "configuration file not written", {{"path", path_}});
    ::unlink(tmp.c_str());
  }
  return ok;
}

bool FileStore::Put(std::string_view key, const CentralValue& value) {
  // Read, change, write and apply under one lock: concurrent changes neither lose each other in the
  // file nor reach the Config in another order than the file's.
  std::lock_guard lock(mu_);
  auto values = LoadLocked();
  values.insert_or_assign(std::string(key), value);
  if (!WriteLocked(values)) return false;
  config_.ApplyCentral(key, value);
  return true;
}

bool FileStore::Remove(std::string_view key) {
  std::lock_guard lock(mu_);
  auto values = LoadLocked();
  if (auto it = values.find(key); it != values.end()) values.erase(it);
  if (!WriteLocked(values)) return false;
  config_.ApplyCentral(key, std::nullopt);
  return true;
}

}  // namespace shop::config
