#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shop::admin {

/// One running process of a service, as `GET /admin/services` lists it (PLATFORM.md "Instance").
struct Instance {
  std::string id;
  std::string url;      ///< where the other processes reach it: `http://host:port`
  std::string version;  ///< semantic version MAJOR.MINOR.PATCH
  std::string started_at;  ///< RFC 3339
  std::int64_t last_seen_ms = 0;  ///< Unix milliseconds of its last heartbeat (its own start for the single binary)
  bool compatible = true;  ///< false: another major version than its callers speak; never called
};

struct Service {
  std::string name;
  std::vector<Instance> instances;  ///< live ones only, sorted by id
};

/// Who is running: the registry in the split layout, the process itself in the single binary.
class Directory {
 public:
  virtual ~Directory() = default;
  /// Every service with at least one live instance, sorted by name. Thread-safe; no I/O.
  virtual std::vector<Service> Services() const = 0;
};

}  // namespace shop::admin
