#include "shop/nats/nats.h"

#include <nats/nats.h>

#include "connection_impl.h"

#include <stdexcept>

#include "shop/platform/log.h"

namespace shop::nats {
namespace {

using Clock = std::chrono::steady_clock;


}  // namespace


Connection::Connection(const std::string& url, const std::string& name) : url_(url), impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  natsStatus s = natsOptions_Create(&impl_->options);
  if (s == NATS_OK) s = natsOptions_SetURL(impl_->options, url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(impl_->options, name.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(impl_->options, -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(impl_->options, 250);  // ms
  if (s == NATS_OK) s = natsOptions_SetReconnectJitter(impl_->options, 100, 1000);
  if (s == NATS_OK) s = natsOptions_SetTimeout(impl_->options, 1000);  // connect, ms
  if (s == NATS_OK) s = natsOptions_SetPingInterval(impl_->options, 1000);  // a dead server is noticed in ~2 s
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(impl_->options, 2);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(impl_->options, &Impl::OnDisconnected, this);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(impl_->options, &Impl::OnConnected, this);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(impl_->options, &Impl::OnClosed, this);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(impl_->options, true, &Impl::OnConnected, this);
  if (s != NATS_OK) throw std::runtime_error("NATS options for " + url + ": " + StatusText(s));
  s = natsConnection_Connect(&impl_->conn, impl_->options);
  if (s == NATS_OK) {
    Impl::OnConnected(impl_->conn, this);
  } else if (s == NATS_NOT_YET_CONNECTED) {
    log::Write(log::Level::kWarn, "nats not reachable yet; connecting in the background", {{"url", url}});
  } else {
    natsOptions_Destroy(impl_->options);
    throw std::runtime_error("cannot use NATS at " + url + ": " + StatusText(s));
  }
  // JetStream API calls (KV puts among them) wait at most 500 ms for an answer, not the default 5 s: a
  // hung server then stalls an admin change briefly, and a heartbeat less than one liveness window.
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = 500;
  s = natsConnection_JetStream(&impl_->js, impl_->conn, &js_options);
  if (s != NATS_OK) throw std::runtime_error("JetStream context: " + StatusText(s));
}

Connection::~Connection() {
  if (impl_->js) jsCtx_Destroy(impl_->js);
  if (impl_->conn) {
    natsConnection_Close(impl_->conn);
    // Close returns before the library has called the disconnected and closed callbacks (on its
    // own thread): wait for the closed one, or they would run on this Connection once it is freed.
    std::unique_lock lock(impl_->closed_mu);
    impl_->closed_cv.wait_for(lock, std::chrono::seconds(5), [this] { return impl_->closed; });
    lock.unlock();
    natsConnection_Destroy(impl_->conn);
  }
  if (impl_->options) natsOptions_Destroy(impl_->options);
}

struct KeyValue::Impl {
  std::mutex mu;
  kvStore* kv = nullptr;  // bound once; valid across reconnects
  std::vector<kvStore*> retired;  // handles of a bucket that was lost (see Unbind)
  std::atomic<std::int64_t> last_error_log_ms{0};
};

KeyValue::KeyValue(Connection& connection, BucketOptions options)
    : connection_(connection), options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

KeyValue::~KeyValue() {
  if (impl_->kv) kvStore_Destroy(impl_->kv);
  for (kvStore* kv : impl_->retired) kvStore_Destroy(kv);
}

namespace {

/// The bucket, created if absent; null while the server cannot be reached.
kvStore* Bind(KeyValue& bucket) {
  auto& impl = bucket.impl();
  std::lock_guard lock(impl.mu);
  if (impl.kv) return impl.kv;
  if (!bucket.connection().connected()) return nullptr;
  jsCtx* js = bucket.connection().impl().js;
  kvStore* kv = nullptr;
  natsStatus s = js_KeyValue(&kv, js, bucket.options().name.c_str());
  if (s != NATS_OK) {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = bucket.options().name.c_str();
    cfg.History = static_cast<uint8_t>(bucket.options().history);
    cfg.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(bucket.options().max_age).count();  // ns
    cfg.StorageType = js_FileStorage;
    s = js_CreateKeyValue(&kv, js, &cfg);
  }
  if (s != NATS_OK) {
    LogThrottled(impl.last_error_log_ms, "nats bucket unavailable",
                 {{"bucket", bucket.options().name}, {"error", StatusText(s)}});
    return nullptr;
  }
  impl.kv = kv;
  return kv;
}

/// Forgets the bound bucket: a server restarted without its data has no such stream any more, and
/// the next use creates the bucket again.
void Unbind(KeyValue& bucket) {
  auto& impl = bucket.impl();
  std::lock_guard lock(impl.mu);
  if (impl.kv) {
    // Kept until the KeyValue goes: another thread may be using the handle right now.
    impl.retired.push_back(impl.kv);
    impl.kv = nullptr;
    log::Write(log::Level::kWarn, "nats bucket lost; will create it again", {{"bucket", bucket.options().name}});
  }
}

}  // namespace

std::optional<std::uint64_t> KeyValue::Put(const std::string& key, const std::string& value) {
  kvStore* kv = Bind(*this);
  if (!kv || !connection_.connected()) return std::nullopt;
  uint64_t revision = 0;
  natsStatus s = kvStore_Put(&revision, kv, key.c_str(), value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) {
    LogThrottled(impl_->last_error_log_ms, "nats put failed", {{"bucket", options_.name}, {"key", key}, {"error", StatusText(s)}});
    if (connection_.connected() && s != NATS_TIMEOUT) Unbind(*this);  // e.g. the stream is gone
    return std::nullopt;
  }
  return revision;
}

bool KeyValue::Delete(const std::string& key) {
  kvStore* kv = Bind(*this);
  if (!kv || !connection_.connected()) return false;
  natsStatus s = kvStore_Delete(kv, key.c_str());
  if (s != NATS_OK) {
    LogThrottled(impl_->last_error_log_ms, "nats delete failed",
                 {{"bucket", options_.name}, {"key", key}, {"error", StatusText(s)}});
    if (connection_.connected() && s != NATS_TIMEOUT) Unbind(*this);  // e.g. the stream is gone
    return false;
  }
  return true;
}

Watch::Watch(KeyValue& bucket, std::string pattern, Handlers handlers)
    : bucket_(bucket), pattern_(std::move(pattern)), handlers_(std::move(handlers)) {
  thread_ = std::thread([this] { Run(); });
}

Watch::~Watch() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool Watch::WaitSynced(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return synced_.load() || stopping_; }) && synced_.load();
}

void Watch::SetSynced(bool synced) {
  {
    std::lock_guard lock(mu_);
    if (synced_.exchange(synced) == synced) return;
  }
  cv_.notify_all();
  if (handlers_.in_sync) handlers_.in_sync(synced);
}

namespace {

KvEntry Convert(kvEntry* e) {
  KvEntry out;
  out.key = kvEntry_Key(e);
  const kvOperation op = kvEntry_Operation(e);
  out.deleted = op == kvOp_Delete || op == kvOp_Purge;
  if (!out.deleted) out.value.assign(static_cast<const char*>(kvEntry_Value(e)), static_cast<std::size_t>(kvEntry_ValueLen(e)));
  out.revision = kvEntry_Revision(e);
  out.written = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(kvEntry_Created(e))));
  return out;
}

}  // namespace

void Watch::Run() {
  std::atomic<std::int64_t> last_log{0};
  auto pause = [this](std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return stopping_; });
  };
  auto stopping = [this] {
    std::lock_guard lock(mu_);
    return stopping_;
  };
  while (!stopping()) {
    Connection& connection = bucket_.connection();
    if (!connection.connected()) {
      SetSynced(false);
      if (!pause(std::chrono::milliseconds(50))) break;
      continue;
    }
    const std::uint64_t epoch = connection.epoch();
    kvStore* kv = Bind(bucket_);
    kvWatcher* watcher = nullptr;
    natsStatus s = kv ? kvStore_Watch(&watcher, kv, pattern_.c_str(), nullptr) : NATS_NOT_YET_CONNECTED;
    if (kv && connection.connected() && s != NATS_TIMEOUT) Unbind(bucket_);
    if (s != NATS_OK) {
      LogThrottled(last_log, "nats watch failed", {{"bucket", bucket_.options().name}, {"error", StatusText(s)}});
      if (!pause(std::chrono::milliseconds(250))) break;
      continue;
    }
    // The initial values, up to the null entry that marks their end.
    std::vector<KvEntry> initial;
    bool ok = true;
    while (true) {
      kvEntry* e = nullptr;
      s = kvWatcher_Next(&e, watcher, 2000);
      if (s != NATS_OK) {
        ok = false;
        break;
      }
      if (!e) break;
      KvEntry entry = Convert(e);
      kvEntry_Destroy(e);
      std::erase_if(initial, [&](const KvEntry& x) { return x.key == entry.key; });
      if (!entry.deleted) initial.push_back(std::move(entry));
    }
    if (ok) {
      handlers_.reset(std::move(initial));
      SetSynced(true);
      while (!stopping() && connection.epoch() == epoch && connection.connected()) {
        kvEntry* e = nullptr;
        s = kvWatcher_Next(&e, watcher, 100);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) break;
        if (!e) continue;
        KvEntry entry = Convert(e);
        kvEntry_Destroy(e);
        handlers_.changed(entry);
      }
    }
    // Not synced from the moment the loop is left: destroying the watcher while the connection is
    // down blocks until it is back (libnats unsubscribes through the server), and meanwhile the
    // registry must not judge liveness on heartbeats it cannot see.
    SetSynced(false);
    kvWatcher_Destroy(watcher);
  }
}

}  // namespace shop::nats
