#pragma once

#include <condition_variable>
#include <memory>

#include "shop/config/config.h"
#include "shop/nats/nats.h"

namespace shop::nats {

/// The split layout's central configuration: KV bucket `shop_config`, key = configuration key,
/// value = `{"value":V,"updated_at":N}`. Every process watches the bucket and applies each change to
/// its Config within milliseconds; after a (re)connect the full state is re-read. Values that are
/// invalid (written by hand, or by a newer version) are logged and skipped; the last good one stays.
/// Put and Remove apply nothing themselves: they return once this process's watch has applied their
/// write (at most 1 s), so every process applies the bucket's writes in the bucket's order and
/// concurrent changes of one key end with the last one everywhere.
class ConfigStore final : public config::Store {
 public:
  ConfigStore(Connection& connection, config::Config& config);
  ~ConfigStore() override;

  /// True once the bucket was read fully (and while connected): the process may report ready.
  bool synced() const { return watch_->synced(); }
  /// Waits up to `timeout` for the first full read; true when done.
  bool WaitSynced(std::chrono::milliseconds timeout) { return watch_->WaitSynced(timeout); }

  std::map<std::string, config::CentralValue, std::less<>> LoadAll() override;
  bool Put(std::string_view key, const config::CentralValue& value) override;
  bool Remove(std::string_view key) override;

 private:
  config::Config& config_;
  KeyValue bucket_;
  std::mutex mu_;
  std::map<std::string, config::CentralValue, std::less<>> last_;  // the bucket as last read
  std::uint64_t applied_revision_ = 0;                            // guarded by mu_
  std::map<std::string, std::uint64_t, std::less<>> events_by_key_;  // guarded by mu_
  std::condition_variable applied_;
  std::unique_ptr<Watch> watch_;
};

}  // namespace shop::nats
