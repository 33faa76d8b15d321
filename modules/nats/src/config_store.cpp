#include "shop/nats/config_store.h"

#include <algorithm>

#include "shop/platform/log.h"

namespace shop::nats {

ConfigStore::ConfigStore(Connection& connection, config::Config& config)
    : config_(config), bucket_(connection, {.name = "shop_config", .history = 5}) {
  watch_ = std::make_unique<Watch>(
      bucket_, ">",
      Watch::Handlers{
          .reset =
              [this](std::vector<KvEntry> entries) {
                std::map<std::string, config::CentralValue, std::less<>> values;
                for (const KvEntry& e : entries) {
                  if (auto value = config::ParseCentralValue(e.value)) {
                    values.insert_or_assign(e.key, std::move(*value));
                  } else {
                    log::Write(log::Level::kWarn, "configuration value skipped",
                               {{"key", e.key}, {"reason", "not {\"value\",\"updated_at\"}"}});
                  }
                }
                config_.ResetCentral(values);
                {
                  std::lock_guard lock(mu_);
                  last_ = values;
                  for (const KvEntry& e : entries) applied_revision_ = std::max(applied_revision_, e.revision);
                }
                applied_.notify_all();
              },
          .changed =
              [this](const KvEntry& e) {
                std::optional<config::CentralValue> value;
                if (!e.deleted) {
                  value = config::ParseCentralValue(e.value);
                  if (!value) {
                    log::Write(log::Level::kWarn, "configuration value skipped",
                               {{"key", e.key}, {"reason", "not {\"value\",\"updated_at\"}"}});
                  }
                }
                if (e.deleted) {
                  config_.ApplyCentral(e.key, std::nullopt);
                } else if (value) {
                  config_.ApplyCentral(e.key, *value);
                }
                {
                  std::lock_guard lock(mu_);
                  if (e.deleted) {
                    if (auto it = last_.find(e.key); it != last_.end()) last_.erase(it);
                  } else if (value) {
                    last_.insert_or_assign(e.key, *value);
                  }
                  applied_revision_ = std::max(applied_revision_, e.revision);
                  ++events_by_key_[e.key];
                }
                applied_.notify_all();
              },
          .in_sync = {}});
}

ConfigStore::~ConfigStore() { watch_.reset(); }

std::map<std::string, config::CentralValue, std::less<>> ConfigStore::LoadAll() {
  std::lock_guard lock(mu_);
  return last_;
}

bool ConfigStore::Put(std::string_view key, const config::CentralValue& value) {
  const auto revision = bucket_.Put(std::string(key), config::FormatCentralValue(value));
  if (!revision) return false;
  // Stored: it takes effect here when the watch applies it, in the bucket's order.
  std::unique_lock lock(mu_);
  applied_.wait_for(lock, std::chrono::seconds(1), [&] { return applied_revision_ >= *revision; });
  return true;
}

bool ConfigStore::Remove(std::string_view key) {
  std::uint64_t seen = 0;
  {
    std::lock_guard lock(mu_);
    if (auto it = events_by_key_.find(key); it != events_by_key_.end()) seen = it->second;
  }
  if (!bucket_.Delete(std::string(key))) return false;
  // kvStore_Delete tells no revision: wait for the watch's next event of this key instead.
  std::unique_lock lock(mu_);
  applied_.wait_for(lock, std::chrono::seconds(1), [&] {
    auto it = events_by_key_.find(key);
    return it != events_by_key_.end() && it->second > seen;
  });
  return true;
}

}  // namespace shop::nats
