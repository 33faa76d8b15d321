#include "shop/nats/config_store.h"

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
                {
                  std::lock_guard lock(mu_);
                  last_ = values;
                }
                config_.ResetCentral(values);
              },
          .changed =
              [this](const KvEntry& e) {
                if (e.deleted) {
                  {
                    std::lock_guard lock(mu_);
                    if (auto it = last_.find(e.key); it != last_.end()) last_.erase(it);
                  }
                  config_.ApplyCentral(e.key, std::nullopt);
                  return;
                }
                auto value = config::ParseCentralValue(e.value);
                if (!value) {
                  log::Write(log::Level::kWarn, "configuration value skipped",
                             {{"key", e.key}, {"reason", "not {\"value\",\"updated_at\"}"}});
                  return;
                }
                {
                  std::lock_guard lock(mu_);
                  last_.insert_or_assign(e.key, *value);
                }
                config_.ApplyCentral(e.key, std::move(*value));
              },
          .in_sync = {}});
}

ConfigStore::~ConfigStore() { watch_.reset(); }

std::map<std::string, config::CentralValue, std::less<>> ConfigStore::LoadAll() {
  std::lock_guard lock(mu_);
  return last_;
}

bool ConfigStore::Put(std::string_view key, const config::CentralValue& value) {
  return bucket_.Put(std::string(key), config::FormatCentralValue(value));
}

bool ConfigStore::Remove(std::string_view key) { return bucket_.Delete(std::string(key)); }

}  // namespace shop::nats
