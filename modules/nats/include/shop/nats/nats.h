#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

/// The split layout's one NATS layer (NATS C client 3.4, JetStream key-value buckets), shared by
/// the configuration, the registry and events. The C client stays inside src/.
namespace shop::nats {

/// One connection to a NATS server, reconnecting forever. Start-up never waits for the server: when
/// it is down the connection is made in the background (natsOptions_SetRetryOnFailedConnect).
class Connection {
 public:
  /// `url` like `nats://127.0.0.1:4222`; `name` shows in the server's connection list. Throws
  /// std::runtime_error when the URL is invalid.
  Connection(const std::string& url, const std::string& name);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// True while connected to a server.
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  /// Grows by one at every (re)connection. State read from the server before a change of epoch may
  /// be stale: KV watchers are re-created and their full state re-read (NATS C client docs).
  std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  const std::string& url() const { return url_; }

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::string url_;
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> epoch_{0};
  std::unique_ptr<Impl> impl_;
};

/// What a key-value bucket is created with when it does not exist yet.
struct BucketOptions {
  std::string name;
  int history = 1;                    ///< values kept per key
  std::chrono::seconds max_age{0};    ///< entries older than this are dropped; 0 keeps them
};

/// One entry of a key-value bucket, as put or deleted.
struct KvEntry {
  std::string key;
  std::string value;  ///< empty for a delete
  bool deleted = false;
  std::uint64_t revision = 0;
  std::chrono::system_clock::time_point written;  ///< server time of the write
};

/// A JetStream key-value bucket, created on first use if absent. Thread-safe.
class KeyValue {
 public:
  KeyValue(Connection& connection, BucketOptions options);
  ~KeyValue();
  KeyValue(const KeyValue&) = delete;
  KeyValue& operator=(const KeyValue&) = delete;

  /// Writes `value` at `key`; the entry's revision (the stream sequence watchers see it under), or
  /// nullopt (and a log line at most every few seconds) when the server cannot be reached or refuses;
  /// nothing is queued.
  std::optional<std::uint64_t> Put(const std::string& key, const std::string& value);
  /// Deletes `key` (a delete marker watchers see). False when the server cannot be reached.
  bool Delete(const std::string& key);

  Connection& connection() { return connection_; }
  const BucketOptions& options() const { return options_; }

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  Connection& connection_;
  BucketOptions options_;
  std::unique_ptr<Impl> impl_;
};

/// Follows the keys of a bucket that match a pattern (`>` for all, `products.*`), on its own thread.
/// On every (re)sync, `reset` gets the full state (live entries only); then `changed` gets each put
/// or delete as it happens, in order. After a reconnect the watcher is re-created and `reset` called
/// again with the full state. `in_sync(false)` is called when the connection is lost.
class Watch {
 public:
  struct Handlers {
    std::function<void(std::vector<KvEntry>)> reset;
    std::function<void(const KvEntry&)> changed;
    std::function<void(bool)> in_sync;  ///< optional
  };

  Watch(KeyValue& bucket, std::string pattern, Handlers handlers);
  /// Stops the thread (within ~100 ms).
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  /// True once the full state was read and until the connection is lost.
  bool synced() const { return synced_.load(std::memory_order_acquire); }
  /// Blocks until synced or `timeout`; true when synced.
  bool WaitSynced(std::chrono::milliseconds timeout);

 private:
  void Run();
  void SetSynced(bool synced);

  KeyValue& bucket_;
  std::string pattern_;
  Handlers handlers_;
  std::atomic<bool> synced_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace shop::nats
