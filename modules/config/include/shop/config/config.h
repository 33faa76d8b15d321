#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shop/platform/log.h"

/// The central configuration of `PLATFORM.md` ("Configuration keys"): every key declared once with
/// its type, default and range; one typed, immutable snapshot per change; subscribers told at once.
namespace shop::config {

/// A configuration value: a JSON string, number or integer (the JSON types of PLATFORM.md).
using Value = std::variant<std::string, double, std::int64_t>;

enum class Type { kString, kNumber, kInteger };

/// One key of the contract: the only place its type, default and valid range are written.
struct KeySpec {
  std::string_view key;
  Type type;
  Value default_value;
  double min = 0;                       ///< numbers and integers: inclusive bounds
  double max = 0;
  std::vector<std::string_view> allowed;  ///< strings: the valid values
  std::string_view effect;              ///< one line, for docs and `--help`
  /// True for the keys of PLATFORM.md: listed and changed through /admin/config, stored centrally.
  /// False for a process's own settings: set by flag or environment at start only.
  bool central = true;
};

/// Every key, sorted by key: PLATFORM.md's (central) and the process settings (not central).
const std::vector<KeySpec>& Keys();
/// The key's spec, or nullptr when the contract has no such key.
const KeySpec* FindKey(std::string_view key);
/// Why `value` is not valid for `spec` (wrong type or out of range), or nullopt when it is.
std::optional<std::string> Check(const KeySpec& spec, const Value& value);
/// The value as JSON text (`"info"`, `2.5`, `100`), for stores and logs.
std::string ToJsonText(const Value& value);

/// The typed settings a process acts on, derived from one snapshot's values.
struct Settings {
  log::Level log_level = log::Level::kInfo;
  double rate_limit_rps = 0;        ///< requests per second per client at the edge; 0: off
  std::int64_t rate_limit_burst = 100;
  std::chrono::seconds token_ttl{3600};
  std::chrono::milliseconds client_timeout{3000};
  int breaker_failures = 5;
  // Process settings (not central): read at start.
  std::chrono::milliseconds client_connect_timeout{500};
  int client_max_attempts = 3;
  std::chrono::milliseconds client_backoff{20};
  std::chrono::milliseconds breaker_open_for{1000};
  std::chrono::milliseconds release_retry_every{2000};
  int handler_threads = 0;
};

/// A value set centrally (admin API, store), with when it was set (Unix seconds).
struct CentralValue {
  Value value;
  std::int64_t updated_at = 0;
};

/// One key's state in a snapshot: its effective value, and the central value when one is set.
struct Entry {
  const KeySpec* spec;
  Value value;                               ///< central value, else the starting value
  std::optional<std::int64_t> updated_at;    ///< set while a central value is in force
};

/// One consistent view of the whole configuration. Immutable once published.
struct Snapshot {
  std::uint64_t generation = 0;  ///< grows by one per published change
  std::vector<Entry> entries;    ///< in Keys() order
  Settings settings;

  const Entry& Find(std::string_view key) const;  ///< key must exist (FindKey)
};

/// The process's configuration. Sources in order: each key's default, then the starting values
/// (flags and environment), then the central value (store), which wins once set.
/// Thread-safe. Readers take Current() (an atomic load, no lock); writers build a new snapshot
/// under a mutex and swap it in, then call every subscriber in order of subscription.
class Config {
 public:
  using Listener = std::function<void(const Snapshot&)>;

  /// Throws std::invalid_argument naming the key when a starting value is unknown or invalid.
  explicit Config(std::map<std::string, Value, std::less<>> starting = {});

  /// The current snapshot; never null. Lock-free on the reading side.
  std::shared_ptr<const Snapshot> Current() const { return current_.load(std::memory_order_acquire); }

  /// Calls `listener` now with the current snapshot, and after every change. Listeners run on the
  /// thread that made the change and must not call back into Config's writers.
  void Subscribe(Listener listener);

  /// Sets the central value of `key` (nullopt: removes it, back to the starting value). An invalid
  /// value (unknown key, wrong type, out of range) is logged and skipped: the last good value stays.
  /// False when skipped. A value equal to the one in force publishes nothing.
  bool ApplyCentral(std::string_view key, std::optional<CentralValue> value);

  /// Replaces every central value with `values` (a store's full state after a (re)sync); invalid
  /// entries are logged and skipped, keys absent from `values` go back to their starting value.
  void ResetCentral(const std::map<std::string, CentralValue, std::less<>>& values);

 private:
  void PublishLocked(std::map<std::string, CentralValue, std::less<>> central);

  std::map<std::string, Value, std::less<>> starting_;
  std::mutex write_mu_;
  std::map<std::string, CentralValue, std::less<>> central_;  // guarded by write_mu_
  std::vector<Listener> listeners_;                          // guarded by write_mu_
  std::atomic<std::shared_ptr<const Snapshot>> current_;
};

/// Where central values are kept: a file in the data dir (single binary), a NATS KV bucket (split).
/// Writes take effect in this process's Config before they return, in the order the store took
/// them, so concurrent changes of one key end with the same value everywhere (the last stored).
class Store {
 public:
  virtual ~Store() = default;
  /// Every central value stored now. Entries that cannot be read are logged and left out.
  virtual std::map<std::string, CentralValue, std::less<>> LoadAll() = 0;
  /// Stores `value` for `key` durably and applies it; false (and a log line) when the store cannot
  /// be written: then nothing changed.
  virtual bool Put(std::string_view key, const CentralValue& value) = 0;
  /// Removes `key`'s central value and applies that; false when the store cannot be written.
  virtual bool Remove(std::string_view key) = 0;
};

/// A Store in one JSON file (`{"key":{"value":V,"updated_at":N},...}`), rewritten whole through a
/// temporary file and rename(2) so a crash leaves the old or the new file, never half of one.
class FileStore final : public Store {
 public:
  /// Writes are applied to `config` (which must outlive the store) under the store's lock.
  FileStore(std::string path, Config& config);
  std::map<std::string, CentralValue, std::less<>> LoadAll() override;
  bool Put(std::string_view key, const CentralValue& value) override;
  bool Remove(std::string_view key) override;

 private:
  bool WriteLocked(const std::map<std::string, CentralValue, std::less<>>& values);
  std::map<std::string, CentralValue, std::less<>> LoadLocked();
  std::string path_;
  Config& config_;
  std::mutex mu_;
};

/// Parses a stored value's JSON text (`{"value":V,"updated_at":N}`); nullopt when it is not that.
std::optional<CentralValue> ParseCentralValue(std::string_view json_text);
/// The stored form of `value`: `{"value":V,"updated_at":N}`.
std::string FormatCentralValue(const CentralValue& value);

}  // namespace shop::config
